"""Benchmark (not a test): throughput of ``prescriptions.services.transition_dossier``, the one way a status moves.

    .venv/bin/python bench/transitions.py [--dossiers 300] [--profile transitions.prof]

Prepares complete drafts through the prescribing services (untimed), then walks each from draft to closed
with the demo cast, as ``pfmg.demo.walk`` does: before each transition, untimed, what the other apps require
of it is recorded through their own services (the agenda of an RCP-FMG meeting, the consents through
``consent.services.record_consent``, samples and shipments, a report to sign); then the transition is timed
with everything a user's click costs: permission, conditions, optimistic lock, timeline entry, audit and the
receivers of the other apps. The submission goes through ``drafting.attest_and_submit`` (RCP-FMG choice and
attestation with it), the signature through ``labs.services.sign_report`` (the PAdES signature of the report,
with a strong authentication as fresh as a biologist who just confirmed their identity).

Work queued on commit (PDF renders, e-mails) is what a web request hands over: to a worker when a broker is
configured, to the moment after the response otherwise (``pfmg.after_response``). The benchmark collects it
as a request would and counts it; ``--run-deferred`` runs it after each timed section, timed apart (slow: the
meeting minutes are laid out again at each decision; bench/pdfs.py measures rendering).

Same database handling as bench/seed_scale.py: a scratch SQLite file under /tmp unless DATABASE_URL is set, in
which case the database's name must contain "bench". Runs with DEBUG off unless DEBUG is set (Django's query
log would otherwise be part of each figure), with a throw-away SECRET_KEY and the demo's signing certificates
in a scratch folder.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import secrets
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from scratch import remove, setup_django  # noqa: E402 - bench/ is on sys.path when run as a script


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dossiers", type=int, default=300)
    parser.add_argument(
        "--any-database", action="store_true", help="Write to DATABASE_URL whatever its name."
    )
    parser.add_argument("--profile", help="Write a cProfile of the timed sections to this file.")
    parser.add_argument(
        "--run-deferred",
        action="store_true",
        help="Run the renders and e-mails each transition queued (timed apart) instead of counting them: "
        "slow, and measured by bench/pdfs.py.",
    )
    parser.add_argument(
        "--show-queries", action="store_true", help="Print the SQL of the first dossier's transitions."
    )
    args = parser.parse_args()

    scratch: list[Path] = []
    try:
        _environment(scratch)
        setup_django(any_database=args.any_database, scratch=scratch)
        run(args)
    finally:
        remove(scratch)


def _environment(scratch: list[Path]) -> None:
    """What the settings need to run as in production (DEBUG off) on demo data, without touching var/."""
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("DEMO_MODE", "true")
    if not os.environ.get("SECRET_KEY"):
        os.environ["SECRET_KEY"] = secrets.token_urlsafe(50)
    # The e-mails are sent (after the responses), to memory rather than the console.
    os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")
    if not os.environ.get("REPORT_SIGNING_DIR"):
        signing = Path(tempfile.mkdtemp(prefix="pfmg-bench-signing-", dir="/tmp"))
        scratch.append(signing)
        os.environ["REPORT_SIGNING_DIR"] = str(signing)


def run(args: argparse.Namespace) -> None:
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from labs import services as labs_services
    from labs.models import Report
    from labs.services import route_dossier
    from people.models import RcpBody
    from pfmg import after_response
    from pfmg.demo import APP_DEMOS, PATHS, REASONS, Cast, complete_draft, seed_people
    from prescriptions.drafting import attest_and_submit
    from prescriptions.models import Dossier, PreIndication
    from prescriptions.services import create_dossier, transition_dossier

    logging.getLogger("celery").setLevel(logging.WARNING)  # one "task succeeded" line per eager task
    print(
        f"Database: {connection.vendor} {connection.settings_dict['NAME']}, DEBUG={settings.DEBUG}, "
        f"tasks {'eager (no broker)' if settings.CELERY_TASK_ALWAYS_EAGER else 'queued to the broker'}"
    )
    call_command("migrate", interactive=False, verbosity=0)
    call_command("load_reference", verbosity=0)
    users = seed_people()
    for app_demo in APP_DEMOS:
        app_demo.seed_reference(users)
    call_command("generate_demo_certificates", verbosity=0)
    # As in pfmg.demo.seed_demo: each territory with its own prescriber, laboratory staff and RCP-FMG.
    territories = [
        (
            Cast(users["prescriber"], users["coordinator"], users["lab_seqoia"], users["biologist_seqoia"]),
            RcpBody.objects.get(name="RCP-FMG Maladies rares Île-de-France (démo)"),
        ),
        (
            Cast(
                users["prescriber2"], users["coordinator"], users["lab_auragen"], users["biologist_auragen"]
            ),
            RcpBody.objects.get(name="RCP-FMG-MR génomique Auvergne-Rhône-Alpes (démo)"),
        ),
    ]
    version = PreIndication.objects.get(slug="deficience-intellectuelle").current_version()
    assert version is not None, "the catalogue has no current version of deficience-intellectuelle"
    path = PATHS[Dossier.Status.CLOSED]
    start = timezone.now() - dt.timedelta(days=200)
    step = dt.timedelta(days=3)

    started = time.perf_counter()
    dossiers = []
    for i in range(args.dossiers):
        cast, rcp = territories[i % 2]
        with transaction.atomic():
            dossier = create_dossier(
                prescriber=cast.prescriber,
                entered_by=cast.prescriber,
                pre_indication_version=version,
                at=start,
            )
            # Every step of the prescribing journey, as the demo does, so that the submission is accepted.
            complete_draft(dossier, cast.prescriber, i, trio=i % 3 == 0)
        dossiers.append((dossier, cast, rcp))
    created = time.perf_counter() - started
    print(f"Prepared {len(dossiers)} complete drafts through the prescribing services in {created:.1f}s")

    # What a running server has loaded before its first request (the URLconf, which the e-mails' links need;
    # the e-mail template), so that the first timed transition does not pay for it.
    from django.template.loader import get_template
    from django.urls import reverse

    reverse("dossier_detail", args=[dossiers[0][0].pk])
    get_template("notifications/email/transition.txt")

    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()

    timings: dict[str, list[float]] = defaultdict(list)
    queries: dict[str, list[int]] = defaultdict(list)
    cpu: dict[str, list[float]] = defaultdict(list)  # this process's CPU time: the machine may be shared
    deferred_time = 0.0
    deferred_count = 0
    counted = [0]

    def count(execute, sql, params, many, context):
        counted[0] += 1
        if show:
            print(f"    {sql[:300]}")
        return execute(sql, params, many, context)

    for number, (dossier, cast, rcp) in enumerate(dossiers):
        show = args.show_queries and number == 0
        at = start
        for name in path:
            at += step
            # Untimed, as in pfmg.demo.walk: routing comes with validation or finalising (a labs write, not a
            # transition), and each app records what its requirements of this transition need.
            with after_response.collecting() as untimed:
                if name == "finalise" and not dossier.laboratory_id:
                    route_dossier(dossier=dossier, actor=cast.prescriber, at=at - step / 2)
                for app_demo in APP_DEMOS:
                    app_demo.prepare(name, dossier, cast, at - step / 4)
            if args.run_deferred:  # e.g. the minutes of the meeting the demo's RCP-FMG concluded in
                after_response.run(untimed)
            draft = None
            if name == "sign_report":
                draft = (
                    Report.objects.filter(dossier=dossier, signed_at__isnull=True)
                    .order_by("-version")
                    .first()
                )
            counted[0] = 0
            if show:
                print(f"  {name}:")
            with after_response.collecting() as pending, connection.execute_wrapper(count):
                if profiler is not None:
                    profiler.enable()
                began, began_cpu = time.perf_counter(), time.process_time()
                if name == "submit":
                    # The prescriber's submission: RCP-FMG choice, attestation and the transition, at once.
                    attest_and_submit(dossier=dossier, prescriber=cast.prescriber, rcp=rcp, at=at)
                elif name == "sign_report":
                    # A biologist who confirmed their identity just now (people.auth.strong_auth_at).
                    labs_services.sign_report(report=draft, actor=cast.biologist, strong_auth_at=at, at=at)
                else:
                    transition_dossier(
                        dossier=dossier,
                        name=name,
                        actor=cast.actor_for(name),
                        reason=REASONS.get(name, ""),
                        at=at,
                    )
                elapsed = time.perf_counter() - began
                cpu[name].append(time.process_time() - began_cpu)
                if profiler is not None:
                    profiler.disable()
            timings[name].append(elapsed)
            queries[name].append(counted[0])
            if name == "sign_report":
                dossier.refresh_from_db()
            # What a request hands over once its response is sent (eager tasks, here) or to the broker.
            deferred_count += len(pending)
            if args.run_deferred:
                began = time.perf_counter()
                after_response.run(pending)
                deferred_time += time.perf_counter() - began

    report(path, timings, cpu, queries, deferred_count, deferred_time if args.run_deferred else None)
    assert Dossier.objects.filter(
        pk__in=[d.pk for d, _, _ in dossiers], status=Dossier.Status.CLOSED
    ).count() == len(dossiers), "not every dossier reached 'closed'"
    if profiler is not None:
        profiler.dump_stats(args.profile)
        print(f"Profile of the timed sections: {args.profile} (python -m pstats {args.profile})")


def report(path, timings, cpu, queries, deferred_count, deferred_time) -> None:
    print()
    print(
        f"{'transition':<18} {'n':>5} {'per second':>11} {'ms (median)':>12} {'ms (p95)':>9} "
        f"{'CPU ms':>7} {'queries':>8}"
    )
    for name in path:
        times = sorted(timings[name])
        total = sum(times)
        p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
        print(
            f"{name:<18} {len(times):>5} {len(times) / total:>11.0f} {1000 * statistics.median(times):>12.2f} "
            f"{1000 * p95:>9.2f} {1000 * statistics.median(cpu[name]):>7.2f} "
            f"{statistics.median(queries[name]):>8.0f}"
        )
    every = [t for name in path for t in timings[name]]
    timed = sum(every)
    every_cpu = [t for name in path for t in cpu[name]]
    every_query = [q for name in path for q in queries[name]]
    print(
        f"{'overall':<18} {len(every):>5} {len(every) / timed:>11.0f} {1000 * statistics.median(every):>12.2f} "
        f"{'':>9} {1000 * statistics.median(every_cpu):>7.2f} {statistics.median(every_query):>8.0f}"
    )
    print()
    print(
        f"{len(every)} transitions ({len(path)} per dossier, draft to closed) in {timed:.1f}s: "
        f"{len(every) / timed:.0f} transitions/second on one process "
        f"({len(every) / sum(every_cpu):.0f}/s of this process's CPU time)"
    )
    if deferred_count and deferred_time is not None:
        print(
            f"After the responses (eager tasks, no broker): {deferred_count} tasks in {deferred_time:.1f}s, "
            "not counted above"
        )
    elif deferred_count:
        print(
            f"{deferred_count} renders and e-mails queued for after the responses, not run (--run-deferred runs "
            "them; bench/pdfs.py measures rendering)"
        )


if __name__ == "__main__":
    main()
