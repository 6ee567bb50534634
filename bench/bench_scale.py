"""Load benchmark (not a test): each role's pages and API calls at 10,000 dossiers and at a large N.

    make bench-scale                                   # 10,000 then 2,350,000 dossiers
    BENCH_N=100000 make bench-scale                    # a smaller N
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/pfmg_bench_scale .venv/bin/python bench/bench_scale.py

In one run against PostgreSQL (a database whose name contains "bench"; refused otherwise): migrate, load the
reference data and the demo people, ``seed_scale`` up to BENCH_SMALL dossiers, start a real server (gunicorn,
DEBUG off) on loopback, log in as each demo role through the login form (password, then the demo TOTP code),
and measure every page with a bounded pool of concurrent HTTP clients: median and 95th percentile latency,
throughput, and the queries of one request (counted in-process with Django's test client on the same
database). Then ``seed_scale`` up to BENCH_N (resumable: it only adds what is missing) and measure again. A bare
DRF endpoint (bench/bench_urls.py) on the same server gives the framework's own limit. Writes
bench/results/scale-<N>.json and .md. See bench/README.md.

Environment (all optional): BENCH_N (2350000), BENCH_SMALL (10000), BENCH_CONCURRENCY (4 clients),
BENCH_REQUESTS (40 per page), BENCH_WARMUP (3), BENCH_MAX_SECONDS (60 per page, once 5 requests are done),
BENCH_WORKERS (2 gunicorn processes), BENCH_THREADS (2 per process), BENCH_PORT (8765), BENCH_ONLY (comma-
separated labels to measure, for a quick look), BENCH_SKIP_SEED (1: measure the database as it is),
BENCH_LARGE_DATABASE_URL (phase 2 in another *bench* database, e.g. one loaded beforehand with
``seed_scale --dossiers 2350000 --trust-keys``, which the phase tops up to BENCH_N and migrates first; the
pages' ids are then chosen again in that database).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from scratch import ROOT, remove, setup_django  # noqa: E402 - bench/ is on sys.path when run as a script

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/pfmg_bench_scale"

# Every request of the table, as (label, role, kind). The URL is built per phase from real ids (see Targets).
PAGES: list[tuple[str, str]] = [
    ("home", "prescriber"),
    ("home, status filter", "prescriber"),
    ("home, search by name", "prescriber"),
    ("home, search by reference", "prescriber"),
    ("home, search by INS", "prescriber"),
    ("home, deep page", "prescriber"),
    ("dossier page", "prescriber"),
    ("notifications", "prescriber"),
    ("home", "assistant"),
    ("home, search by reference", "assistant"),
    ("home", "coordinator"),
    ("RCP queue", "coordinator"),
    ("RCP meeting page", "coordinator"),
    ("RCP dossier sheet", "coordinator"),
    ("home", "lab_seqoia"),
    ("laboratory queue", "lab_seqoia"),
    ("laboratory queue", "biologist_seqoia"),
    ("home (aggregates)", "national"),
    ("statistics", "national"),
    ("admin dossier changelist", "admin"),
    ("admin dossier changelist, search by reference", "admin"),
    ("admin dossier changelist, deep page", "admin"),
    ("admin dossier change page", "admin"),
    ("admin patient changelist", "admin"),
    ("admin patient change page", "admin"),
    ("admin timeline changelist", "admin"),
    ("admin timeline changelist, search by reference", "admin"),
    ("admin audit changelist", "auditor"),
    ("API pre-indication list", "prescriber"),
    ("API pre-indication detail", "prescriber"),
    ("API HPO term detail", "prescriber"),
    ("API dossier list", "prescriber"),
    ("API dossier detail", "prescriber"),
    ("API statistics", "national"),
    ("bare DRF endpoint", "anonymous"),
]
ROLES = [
    "prescriber",
    "assistant",
    "coordinator",
    "lab_seqoia",
    "biologist_seqoia",
    "national",
    "admin",
    "auditor",
]
# Pages not built yet by every branch: a 404 there is reported as "missing", not as a failure.
OPTIONAL = {"statistics", "API dossier list", "API dossier detail", "API statistics"}
STATISTICS_URLS = ["/statistiques/", "/statistics/"]
API_STATISTICS_URLS = ["/api/v1/statistics/", "/api/v1/statistiques/"]


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


@dataclass
class Settings:
    n: int = field(default_factory=lambda: env_int("BENCH_N", 2_350_000))
    small: int = field(default_factory=lambda: env_int("BENCH_SMALL", 10_000))
    concurrency: int = field(default_factory=lambda: env_int("BENCH_CONCURRENCY", 4))
    requests: int = field(default_factory=lambda: env_int("BENCH_REQUESTS", 40))
    warmup: int = field(default_factory=lambda: env_int("BENCH_WARMUP", 3))
    max_seconds: int = field(default_factory=lambda: env_int("BENCH_MAX_SECONDS", 60))
    workers: int = field(default_factory=lambda: env_int("BENCH_WORKERS", 2))
    threads: int = field(default_factory=lambda: env_int("BENCH_THREADS", 2))
    port: int = field(default_factory=lambda: env_int("BENCH_PORT", 8765))
    only: list[str] = field(
        default_factory=lambda: [s.strip() for s in os.environ.get("BENCH_ONLY", "").split(",") if s.strip()]
    )
    skip_seed: bool = field(default_factory=lambda: os.environ.get("BENCH_SKIP_SEED", "") == "1")


# ---------------------------------------------------------------------------------------------------------
# HTTP: one session (cookies) per role, one keep-alive connection per client thread.


class Session:
    def __init__(self, port: int, headers: dict[str, str] | None = None):
        self.port = port
        self.cookies: dict[str, str] = {}
        self.headers = headers or {}
        self.local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        return conn

    def request(
        self, method: str, url: str, body: dict | None = None, referer: str = ""
    ) -> tuple[int, str, bytes]:
        headers = {"Host": "127.0.0.1", "Accept-Language": "fr", **self.headers}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if body is not None:
            data = urlencode(body).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if referer:
            headers["Referer"] = referer
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(method, url, body=data, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                break
            except (http.client.HTTPException, ConnectionError):
                conn.close()
                self.local.conn = None
                if attempt == 2:
                    raise
        for header in response.headers.get_all("Set-Cookie") or []:
            cookie = SimpleCookie()
            cookie.load(header)
            for name, morsel in cookie.items():
                if morsel["max-age"] == "0" or morsel.value == "":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        if response.getheader("Connection", "").lower() == "close":
            conn.close()
            self.local.conn = None
        return response.status, response.getheader("Location", ""), payload


def csrf_from(html: bytes) -> str:
    match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    if not match:
        raise RuntimeError("no CSRF token in the form")
    return match.group(1).decode()


def login(session: Session, username: str, password: str) -> None:
    from pfmg.demo import demo_totp_code

    _, _, html = session.request("GET", "/accounts/login/")
    status, location, _ = session.request(
        "POST",
        "/accounts/login/",
        {"username": username, "password": password, "csrfmiddlewaretoken": csrf_from(html)},
    )
    if status != 302:
        raise RuntimeError(f"login of {username} refused ({status})")
    if urlsplit(location).path.rstrip("/").endswith("verification"):
        _, _, html = session.request("GET", location)
        status, location, _ = session.request(
            "POST", location, {"code": demo_totp_code(), "csrfmiddlewaretoken": csrf_from(html)}
        )
        if status != 302 or "verification" in location:
            # A code is accepted once: a second login within the same 30 s step waits for the next code.
            time.sleep(31 - time.time() % 30)
            _, _, html = session.request("GET", "/accounts/verification/")
            status, location, _ = session.request(
                "POST",
                "/accounts/verification/",
                {"code": demo_totp_code(), "csrfmiddlewaretoken": csrf_from(html)},
            )
            if status != 302 or "verification" in location:
                raise RuntimeError(f"TOTP code of {username} refused ({status})")
    status, _, _ = session.request("GET", "/")
    if status != 200:
        raise RuntimeError(f"{username} logged in but the home page answers {status}")


def search_url(session: Session, query: str) -> str:
    """The home search: POSTed, kept in the session under a token; the page measured is the redirect target."""
    if not query:
        return "error: nothing to search for in this database"
    _, _, html = session.request("GET", "/")
    status, location, _ = session.request("POST", "/", {"q": query, "csrfmiddlewaretoken": csrf_from(html)})
    if status != 302 or "recherche=" not in location:
        return f"error: search refused ({status} {location})"
    parts = urlsplit(location)
    return f"{parts.path}?{parts.query}"


@dataclass
class Measure:
    label: str
    role: str
    url: str = ""
    status: str = "ok"  # ok, missing, error: <why>
    requests: int = 0
    median_ms: float | None = None
    p95_ms: float | None = None
    throughput: float | None = None  # requests per second with `concurrency` clients
    queries: int | None = None
    bytes: int | None = None
    # API rows: the bare endpoint measured right after, so that both see the same load on a shared machine.
    bare_throughput: float | None = None


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def load(session: Session, url: str, cfg: Settings) -> tuple[list[float], float, list[int], int]:
    """``cfg.requests`` GETs of ``url`` by ``cfg.concurrency`` clients at once (after ``cfg.warmup`` alone):
    the latencies (ms), the wall time, the statuses and the last body's size. Stops early after
    ``cfg.max_seconds`` once at least five requests are done, so one slow page cannot hold the run."""
    size = 0
    for _ in range(cfg.warmup):
        t0 = time.perf_counter()
        _, _, body = session.request("GET", url)
        size = len(body)
        if time.perf_counter() - t0 > 5:  # a page that slow is warm after one request
            break
    latencies: list[float] = []
    statuses: list[int] = []
    lock = threading.Lock()
    issued = [0]
    started = time.perf_counter()

    def client() -> None:
        while True:
            with lock:
                elapsed = time.perf_counter() - started
                if issued[0] >= cfg.requests or (elapsed > cfg.max_seconds and issued[0] >= 5):
                    return
                issued[0] += 1
            t0 = time.perf_counter()
            status, _, _ = session.request("GET", url)
            t1 = time.perf_counter()
            with lock:
                latencies.append((t1 - t0) * 1000)
                statuses.append(status)

    threads = [threading.Thread(target=client) for _ in range(cfg.concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, time.perf_counter() - started, statuses, size


# ---------------------------------------------------------------------------------------------------------
# What to measure: real ids from the database, chosen once (at the small size) and kept for the large one, so
# that both phases ask for the same dossier, the same name, the same reference.


@dataclass
class Targets:
    common_name: str = ""
    reference: str = ""
    ins: str = ""
    dossier_pk: int = 0
    assistant_reference: str = ""
    rcp_dossier_pk: int = 0
    meeting_pk: int = 0
    patient_pk: int = 0
    slug: str = ""
    hpo_id: str = ""


NO_SUCH_INS = "299999999999999"


def choose_targets() -> Targets:
    from django.db.models import Count

    from ontology.models import HpoTerm
    from people.models import User
    from prescriptions import selectors
    from prescriptions.models import Dossier, DossierPerson, PreIndication
    from rcp.models import Meeting

    users = {u.username: u for u in User.objects.filter(username__in=ROLES)}
    prescriber = users["prescriber"]
    mine = selectors.dossiers_visible_to(prescriber).exclude(status=Dossier.Status.DRAFT).order_by("pk")
    dossier = mine.first()
    index = (
        DossierPerson.objects.filter(dossier=dossier, relationship="index").select_related("patient").first()
    )
    names = (
        DossierPerson.objects.filter(dossier__prescriber=prescriber, relationship="index")
        .values("patient__birth_name")
        .annotate(n=Count("id"))
        .order_by("-n")[:1]
    )
    with_ins = (
        DossierPerson.objects.filter(dossier__prescriber=prescriber, relationship="index")
        .exclude(patient__ins="")
        .select_related("patient", "dossier")
        .order_by("pk")
        .first()
    )
    assisted = selectors.dossiers_visible_to(users["assistant"]).order_by("-pk").first()
    coordinator = users["coordinator"]
    queue = selectors.dossiers_visible_to(coordinator).filter(status=Dossier.Status.SUBMITTED).order_by("pk")
    meeting = Meeting.objects.filter(rcp__memberships__user=coordinator).order_by("pk").first()
    if meeting is None:
        meeting = _create_meeting(coordinator)
    return Targets(
        common_name=names[0]["patient__birth_name"] if names else "",
        reference=dossier.reference,
        # seed_scale may write no INS: then an INS that matches nothing, which costs the same lookup.
        ins=with_ins.patient.ins if with_ins else NO_SUCH_INS,
        dossier_pk=dossier.pk,
        assistant_reference=assisted.reference if assisted else "",
        rcp_dossier_pk=queue.first().pk if queue.exists() else 0,
        meeting_pk=meeting.pk if meeting else 0,
        patient_pk=index.patient_id if index else 0,
        slug=PreIndication.objects.order_by("slug").values_list("slug", flat=True).first() or "",
        hpo_id=HpoTerm.objects.order_by("pk").values_list("pk", flat=True).first() or "",
    )


def _create_meeting(coordinator):
    """seed_scale writes no meeting: one upcoming session of the coordinator's first RCP, through the service."""
    import datetime as dt

    from people.models import RcpBody
    from rcp import services

    rcp = RcpBody.objects.filter(memberships__user=coordinator).order_by("pk").first()
    if rcp is None:
        return None
    return services.create_meeting(
        rcp=rcp,
        actor=coordinator,
        date=dt.date.today() + dt.timedelta(days=14),
        start_time=dt.time(14, 0),
        place="Salle de réunion (bench)",
    )


def deep_home_url(username: str, html: bytes) -> str:
    """Page 1,000 of the home list (or its last page when shorter). Keyset lists (links with ``curseur=``) get a
    cursor on the row at that depth in the list's order; numbered ones ``?page=``."""
    from people.models import User
    from pfmg import pagination
    from prescriptions import selectors, views

    order = getattr(views, "HOME_ORDER", ("-updated_at", "-pk"))
    user = User.objects.get(username=username)
    rows = selectors.dossier_list(user).order_by(*order)
    depth = min(999 * 25, pagination.bounded_count(rows, limit=999 * 25).value - 25)
    depth = max(depth, 0)
    if b"curseur=" in html:
        fields = [spec.lstrip("-") for spec in order]
        row = rows.values(*fields)[depth]
        cursor = pagination._encode("n", [row[name] for name in fields])
        return "/?" + urlencode({"curseur": cursor})
    return f"/?page={depth // 25 + 1}"


def admin_deep_url(path: str) -> str:
    from django.contrib import admin

    from prescriptions.models import Dossier

    per_page = admin.site._registry[Dossier].list_per_page
    last = max(1, (Dossier.objects.count() + per_page - 1) // per_page)
    return f"{path}?p={min(1000, last)}"


def urls_for(targets: Targets, sessions: dict[str, Session]) -> dict[tuple[str, str], str | list[str]]:
    t = targets
    prescriber = sessions["prescriber"]
    _, _, home_html = prescriber.request("GET", "/")
    urls: dict[tuple[str, str], str | list[str]] = {
        ("home", "prescriber"): "/",
        ("home, status filter", "prescriber"): "/?statut=analysis",
        ("home, search by name", "prescriber"): search_url(prescriber, t.common_name),
        ("home, search by reference", "prescriber"): search_url(prescriber, t.reference),
        ("home, search by INS", "prescriber"): search_url(prescriber, t.ins),
        ("home, deep page", "prescriber"): deep_home_url("prescriber", home_html),
        ("dossier page", "prescriber"): f"/dossiers/{t.dossier_pk}/",
        ("notifications", "prescriber"): "/notifications/",
        ("home", "assistant"): "/",
        ("home, search by reference", "assistant"): search_url(sessions["assistant"], t.assistant_reference),
        ("home", "coordinator"): "/",
        ("RCP queue", "coordinator"): "/rcp/",
        ("RCP meeting page", "coordinator"): f"/rcp/seances/{t.meeting_pk}/",
        ("RCP dossier sheet", "coordinator"): f"/rcp/dossiers/{t.rcp_dossier_pk}/",
        ("home", "lab_seqoia"): "/",
        ("laboratory queue", "lab_seqoia"): "/laboratoire/",
        ("laboratory queue", "biologist_seqoia"): "/laboratoire/",
        ("home (aggregates)", "national"): "/",
        ("statistics", "national"): STATISTICS_URLS,
        ("admin dossier changelist", "admin"): "/admin/prescriptions/dossier/",
        ("admin dossier changelist, search by reference", "admin"): "/admin/prescriptions/dossier/?"
        + urlencode({"q": t.reference}),
        ("admin dossier changelist, deep page", "admin"): admin_deep_url("/admin/prescriptions/dossier/"),
        ("admin dossier change page", "admin"): f"/admin/prescriptions/dossier/{t.dossier_pk}/change/",
        ("admin patient changelist", "admin"): "/admin/prescriptions/patient/",
        ("admin patient change page", "admin"): f"/admin/prescriptions/patient/{t.patient_pk}/change/",
        ("admin timeline changelist", "admin"): "/admin/prescriptions/dossierevent/",
        ("admin timeline changelist, search by reference", "admin"): "/admin/prescriptions/dossierevent/?"
        + urlencode({"q": t.reference}),
        ("admin audit changelist", "auditor"): "/admin/audit/auditentry/",
        ("API pre-indication list", "prescriber"): "/api/v1/pre-indications/",
        ("API pre-indication detail", "prescriber"): f"/api/v1/pre-indications/{t.slug}/",
        ("API HPO term detail", "prescriber"): f"/api/v1/hpo-terms/{t.hpo_id}/",
        ("API dossier list", "prescriber"): "/api/v1/dossiers/",
        ("API dossier detail", "prescriber"): f"/api/v1/dossiers/{t.reference}/",
        ("API statistics", "national"): API_STATISTICS_URLS,
        ("bare DRF endpoint", "anonymous"): "/bench/bare/",
    }
    return urls


# ---------------------------------------------------------------------------------------------------------
# Queries per request: the same request once in-process, through Django's test client, on the same database.


def count_queries(role: str, url: str, token: str) -> int | None:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from people.models import User

    if url.startswith("/api/") or url.startswith("/bench/"):
        client = Client(HTTP_AUTHORIZATION=f"Token {token}") if token else Client()
    else:
        client = Client()
        client.force_login(User.objects.get(username=role))
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, secure=False)
    return len(queries) if response.status_code == 200 else None


def count_search_queries(role: str, query: str) -> int | None:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from people.models import User

    client = Client()
    client.force_login(User.objects.get(username=role))
    response = client.post("/", {"q": query})
    location = response["Location"]
    with CaptureQueriesContext(connection) as queries:
        response = client.get(location)
    return len(queries) if response.status_code == 200 else None


# ---------------------------------------------------------------------------------------------------------
# The server.


class Server:
    def __init__(self, cfg: Settings, environment: dict[str, str]):
        self.cfg = cfg
        self.environment = environment
        self.process: subprocess.Popen | None = None
        self.log = tempfile.NamedTemporaryFile(prefix="pfmg-bench-gunicorn-", suffix=".log", delete=False)  # noqa: SIM115

    def __enter__(self) -> Server:
        cfg = self.cfg
        command = [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "pfmg.wsgi:application",
            "--bind",
            f"127.0.0.1:{cfg.port}",
            "--workers",
            str(cfg.workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(cfg.threads),
            "--timeout",
            "300",
            "--keep-alive",
            "30",
            "--log-level",
            "warning",
        ]
        self.process = subprocess.Popen(  # noqa: S603 - our own executable, fixed arguments
            command, cwd=ROOT, env=self.environment, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", cfg.port, timeout=5)
                conn.request("GET", "/healthz", headers={"Host": "127.0.0.1"})
                if conn.getresponse().status == 200:
                    return self
            except OSError:
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.5)
        self.__exit__(None, None, None)
        raise RuntimeError(f"the server did not start: see {self.log.name}")

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


# ---------------------------------------------------------------------------------------------------------


def seed_to(target: int) -> None:
    """``seed_scale`` until the database holds ``target`` dossiers. The command's ``--dossiers`` is the total
    wanted (resumable), or the number to add in the older command whose help says "to create"."""
    from django.core.management import call_command, load_command_class

    from prescriptions.models import Dossier

    have = Dossier.objects.count()
    if have >= target:
        print(f"  {have} dossiers already (>= {target})")
        return
    command = load_command_class("pfmg", "seed_scale")
    parser = command.create_parser("manage.py", "seed_scale")
    help_text = next(a.help or "" for a in parser._actions if "--dossiers" in a.option_strings)
    added = "to create" in help_text.lower()  # the older command: "How many dossiers to create."
    wanted = target - have if added else target
    started = time.perf_counter()
    call_command("seed_scale", dossiers=wanted)
    print(f"  seeded {Dossier.objects.count() - have} dossiers in {time.perf_counter() - started:.0f}s")


def switch_database(url: str) -> None:
    """Point this process at another *bench* PostgreSQL database (phase 2 in a database loaded beforehand)."""
    import environ
    from django.db import connections

    name = url.rsplit("/", 1)[-1]
    if "bench" not in name or not url.startswith("postgres"):
        sys.exit(f"Refusing {name!r}: the large database must be a PostgreSQL database named *bench*.")
    ensure_database(url)
    connections.close_all()
    connections["default"].settings_dict.update(environ.Env.db_url_config(url))
    print(f"  database {name}")


def prepare(cfg: Settings) -> None:
    from django.core.management import call_command

    from pfmg.demo import seed_people

    call_command("migrate", interactive=False, verbosity=0)
    call_command("load_reference", verbosity=0)
    seed_people()


def analyze() -> None:
    """After a bulk load, what autovacuum would do in time: the planner's statistics, and the visibility map
    (without it an index-only scan of freshly loaded rows reads the table too)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")


def measure_phase(cfg: Settings, size: int, targets: Targets | None, environment: dict[str, str]):
    from django.db import connection

    from people.models import User
    from people.services import issue_api_token
    from pfmg.demo import DEMO_PASSWORD
    from prescriptions.models import Dossier

    if not cfg.skip_seed:
        seed_to(size)
    analyze()
    connection.close()  # the server must not wait on a transaction of ours
    actual = Dossier.objects.count()
    targets = targets or choose_targets()
    tokens = {
        role: issue_api_token(user=User.objects.get(username=role))[1] for role in ("prescriber", "national")
    }
    measures: list[Measure] = []
    with Server(cfg, environment):
        sessions: dict[str, Session] = {}
        for role in ROLES:
            sessions[role] = Session(cfg.port)
            login(sessions[role], role, DEMO_PASSWORD)
        urls = urls_for(targets, sessions)
        for label, role in PAGES:
            if cfg.only and label not in cfg.only:
                continue
            measure = Measure(label=label, role=role)
            measures.append(measure)
            candidates = urls[(label, role)]
            if label.startswith("API") or role == "anonymous":
                session = Session(
                    cfg.port, {"Authorization": f"Token {tokens[role]}"} if role in tokens else {}
                )
            else:
                session = sessions[role]
            if isinstance(candidates, str) and candidates.startswith("error:"):
                measure.status = candidates
                print(f"  {label} ({role}): {candidates}")
                continue
            url = _first_existing(session, candidates)
            if url is None:
                measure.status = "missing"
                print(f"  {label} ({role}): missing")
                continue
            measure.url = url if "recherche=" not in url else url.split("?")[0] + "?recherche=…"
            try:
                latencies, wall, statuses, size_bytes = load(session, url, cfg)
            except Exception as error:  # noqa: BLE001 - reported in the table, the run goes on
                measure.status = f"error: {error}"
                continue
            bad = [s for s in statuses if s != 200]
            if bad:
                measure.status = f"error: {len(bad)} answers not 200 ({sorted(set(bad))})"
            measure.requests = len(latencies)
            measure.median_ms = round(statistics.median(latencies), 1)
            measure.p95_ms = round(percentile(latencies, 95), 1)
            measure.throughput = round(len(latencies) / wall, 1)
            measure.bytes = size_bytes
            if label.startswith("API"):
                bare_latencies, bare_wall, _, _ = load(Session(cfg.port), "/bench/bare/", cfg)
                measure.bare_throughput = round(len(bare_latencies) / bare_wall, 1)
            query = _search_query(label, role, targets)
            try:
                measure.queries = (
                    count_search_queries(role, query)
                    if query is not None
                    else count_queries(role, url, tokens.get(role, ""))
                )
            except Exception as error:  # noqa: BLE001
                print(f"  query count failed for {label}: {error}")
            print(
                f"  {label} ({role}): median {measure.median_ms} ms, p95 {measure.p95_ms} ms, "
                f"{measure.throughput}/s, {measure.queries} queries, {size_bytes} bytes {measure.status}"
            )
    return actual, targets, measures


def _search_query(label: str, role: str, t: Targets) -> str | None:
    return {
        ("home, search by name", "prescriber"): t.common_name,
        ("home, search by reference", "prescriber"): t.reference,
        ("home, search by INS", "prescriber"): t.ins,
        ("home, search by reference", "assistant"): t.assistant_reference,
    }.get((label, role))


def _first_existing(session: Session, candidates: str | list[str]) -> str | None:
    for url in [candidates] if isinstance(candidates, str) else candidates:
        status, _, _ = session.request("GET", url)
        if status != 404:
            return url
    return None


# ---------------------------------------------------------------------------------------------------------
# The table.

TARGET_RATIO = 1.5
TARGET_QUERIES = 15
TARGET_API_SHARE = 0.5


def table(cfg: Settings, small: tuple[int, list[Measure]], large: tuple[int, list[Measure]]) -> dict:
    small_n, small_measures = small
    large_n, large_measures = large
    bare = {m.label: m for m in large_measures}.get("bare DRF endpoint")
    bare_small = {m.label: m for m in small_measures}.get("bare DRF endpoint")
    rows = []
    by_key = {(m.label, m.role): m for m in small_measures}
    for m in large_measures:
        s = by_key.get((m.label, m.role))
        row = {
            "page": m.label,
            "role": m.role,
            "url": m.url,
            "small": asdict(s) if s else None,
            "large": asdict(m),
            "ratio_median": None,
            "ratio_p95": None,
            "queries": max(q for q in (m.queries, s.queries if s else None) if q is not None)
            if (m.queries is not None or (s and s.queries is not None))
            else None,
            "throughput_vs_bare": None,
            "throughput_vs_bare_small": None,
            "note": "",
        }
        if s and s.median_ms and m.median_ms:
            row["ratio_median"] = round(m.median_ms / s.median_ms, 2)
            row["ratio_p95"] = round(m.p95_ms / s.p95_ms, 2) if s.p95_ms and m.p95_ms else None
        row["throughput_vs_bare"] = _share_of_bare(m, bare)
        row["throughput_vs_bare_small"] = _share_of_bare(s, bare_small) if s else None
        notes = []
        if m.status != "ok" or (s and s.status != "ok"):
            notes.append(m.status if m.status != "ok" else f"at {small_n}: {s.status}")
        if row["ratio_median"] is not None and row["ratio_median"] > TARGET_RATIO:
            notes.append(f"ratio > {TARGET_RATIO}")
        if row["queries"] is not None and row["queries"] > TARGET_QUERIES:
            notes.append(f"> {TARGET_QUERIES} queries")
        if m.label == "API dossier detail" and row["throughput_vs_bare"] is not None:
            if row["throughput_vs_bare"] < TARGET_API_SHARE:
                notes.append(f"< {TARGET_API_SHARE:.0%} of bare")
        row["note"] = "; ".join(notes)
        rows.append(row)
    return {
        "small_n": small_n,
        "large_n": large_n,
        "settings": asdict(cfg),
        "machine": machine(),
        "targets": {"ratio": TARGET_RATIO, "queries": TARGET_QUERIES, "api_share_of_bare": TARGET_API_SHARE},
        "rows": rows,
    }


def _share_of_bare(m: Measure, bare: Measure | None) -> float | None:
    """An API row's throughput over the bare endpoint's, measured right after it (else the bare row's)."""
    if not m.label.startswith("API") or not m.throughput:
        return None
    reference = m.bare_throughput or (bare.throughput if bare else None)
    return round(m.throughput / reference, 3) if reference else None


def machine() -> dict:
    import platform

    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg = cursor.fetchone()[0]
    load1 = os.getloadavg()[0]
    return {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "postgresql": pg,
        "load_average_at_end": round(load1, 2),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - git from the PATH, fixed arguments
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip(),
    }


def fmt(value, suffix: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.1f}{suffix}" if value >= 10 else f"{value:.2f}{suffix}"
    return f"{value:,}{suffix}"


def markdown(result: dict) -> str:
    s, n = result["small_n"], result["large_n"]
    cfg = result["settings"]
    m = result["machine"]
    lines = [
        f"# bench-scale: {s:,} vs {n:,} dossiers",
        "",
        f"{m['when']}, commit {m['commit']}, {m['cpus']} CPUs, Python {m['python']}, PostgreSQL {m['postgresql']};"
        f" gunicorn {cfg['workers']} processes × {cfg['threads']} threads, {cfg['concurrency']} concurrent clients"
        f" on loopback, {cfg['requests']} requests per page after {cfg['warmup']} warm-up; load average at the end"
        f" {m['load_average_at_end']}. Latencies in ms (median / 95th percentile); queries: one request, counted"
        " in-process on the same database. Targets: ratio ≤ 1.5, ≤ 15 queries, dossier detail API ≥ 50 % of the"
        " bare endpoint's throughput (the bare endpoint measured right after each API row, same clients).",
        "",
        f"| page | role | {s:,}: median / p95 | {n:,}: median / p95 | ratio (median) | queries"
        f" | req/s at {n:,} | vs bare | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        small, large = row["small"] or {}, row["large"]
        lines.append(
            f"| {row['page']} | {row['role']} "
            f"| {fmt(small.get('median_ms'))} / {fmt(small.get('p95_ms'))} "
            f"| {fmt(large['median_ms'])} / {fmt(large['p95_ms'])} "
            f"| {fmt(row['ratio_median'])} | {fmt(row['queries'])} | {fmt(large['throughput'])} "
            f"| {fmt(row['throughput_vs_bare'] * 100 if row['throughput_vs_bare'] is not None else None, ' %')} "
            f"| {row['note']} |"
        )
    return "\n".join(lines) + "\n"


def ensure_database(url: str) -> None:
    """Create the bench database if it does not exist yet (only a name containing "bench")."""
    import psycopg2
    from psycopg2 import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if "bench" not in name:
        sys.exit(f"Refusing to write to {name!r}: use a database whose name contains 'bench'.")
    params = {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "user": parts.username or "postgres",
        "password": parts.password or None,
    }
    try:
        psycopg2.connect(dbname=name, **params).close()
    except psycopg2.OperationalError as error:
        if "does not exist" not in str(error):
            raise
        maintenance = psycopg2.connect(dbname="postgres", **params)
        maintenance.autocommit = True
        with maintenance.cursor() as cursor:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        maintenance.close()
        print(f"Created database {name}")


def main() -> None:
    cfg = Settings()
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE)
    if not os.environ["DATABASE_URL"].startswith("postgres"):
        sys.exit("bench-scale measures PostgreSQL: set DATABASE_URL to a postgres:// database named *bench*.")
    # The same settings for this process (seed, ids, query counts) and for the server: DEBUG off (no query
    # log, the production template loaders), plain HTTP on loopback.
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("DEMO_MODE", "true")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ["SECURE_SSL_REDIRECT"] = "false"
    os.environ["ALLOWED_HOSTS"] = "127.0.0.1,localhost,testserver"
    os.environ.setdefault("LOGIN_FAILURE_LIMIT", "1000")
    os.environ.setdefault("CONN_MAX_AGE", "60")
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench_settings"  # the server's settings here too (bare endpoint)
    scratch: list[Path] = []
    static = Path(tempfile.mkdtemp(prefix="pfmg-bench-static-", dir="/tmp"))
    scratch.append(static)
    os.environ["STATIC_ROOT"] = str(static)
    try:
        ensure_database(os.environ["DATABASE_URL"])
        setup_django(any_database=False, scratch=scratch)
        from django.core.management import call_command

        print(
            f"Database {os.environ['DATABASE_URL'].rsplit('/', 1)[-1]}: {cfg.small:,} then {cfg.n:,} dossiers"
        )
        prepare(cfg)
        call_command("collectstatic", interactive=False, verbosity=0)
        environment = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bench_settings",
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(BENCH)]),
        }
        print(f"Phase 1: {cfg.small:,} dossiers")
        small_n, targets, small = measure_phase(cfg, cfg.small, None, environment)
        print(f"Phase 2: {cfg.n:,} dossiers")
        large_url = os.environ.get("BENCH_LARGE_DATABASE_URL", "")
        if large_url:
            switch_database(large_url)
            prepare(cfg)
            environment = {**environment, "DATABASE_URL": large_url}
            targets = None  # the other database's own ids
        large_n, _, large = measure_phase(cfg, cfg.n, targets, environment)
        result = table(cfg, (small_n, small), (large_n, large))
        RESULTS.mkdir(exist_ok=True)
        stem = RESULTS / f"scale-{large_n}"
        stem.with_suffix(".json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
        stem.with_suffix(".md").write_text(markdown(result))
        print(markdown(result))
        print(f"Written: {stem}.json and {stem}.md")
    finally:
        remove(scratch)


if __name__ == "__main__":
    main()
