"""Benchmark (not a test): what the Django admin's big changelists and the dossier change page cost.

    DATABASE_URL=postgres://…/pfmg_bench DEBUG=false SECRET_KEY=… .venv/bin/python bench/admin_pages.py [--repeat 5]

For each page: median and slowest time of ``--repeat`` requests after one warm-up, the queries of one request
and their time in the database (on a loaded machine the rendering's share of the total grows with the load, not
with the data), and the size of its HTML; through Django's test client logged in as a superuser
(``bench-admin``, created if missing; ``force_login`` skips the second factor, as in the tests). Reads the
seeded database (run ``manage.py seed_scale`` first); writes only that superuser and the audit trail's entries.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", help="Also write the figures to this file.")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pfmg.settings")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
    import django

    django.setup()
    from django.conf import settings

    # Static file URLs without collectstatic's manifest: what is measured is the pages' database work.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from people.models import User
    from prescriptions.models import Dossier

    if "bench" not in str(connection.settings_dict["NAME"]):
        sys.exit("Refusing: DATABASE_URL must name a database whose name contains 'bench'.")
    user, _ = User.objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True, "last_name": "Bench"}
    )
    client = Client(secure=True)
    client.force_login(user)
    draft = Dossier.objects.filter(status=Dossier.Status.DRAFT).order_by("-pk").first()
    closed = Dossier.objects.filter(status=Dossier.Status.CLOSED).order_by("-pk").first()
    reference = closed.reference
    pages = {
        "dossier changelist": "/admin/prescriptions/dossier/",
        "dossier changelist ?p=999": "/admin/prescriptions/dossier/?p=999",
        "dossier search reference": f"/admin/prescriptions/dossier/?q={reference}",
        "dossier search prescriber name": f"/admin/prescriptions/dossier/?q={closed.prescriber.last_name}",
        "dossier filter status": "/admin/prescriptions/dossier/?status__exact=received",
        "dossier change (closed)": f"/admin/prescriptions/dossier/{closed.pk}/change/",
        "dossier change (draft)": f"/admin/prescriptions/dossier/{draft.pk}/change/",
        "patient changelist": "/admin/prescriptions/patient/",
        "patient changelist ?p=999": "/admin/prescriptions/patient/?p=999",
        "dossier person search reference": f"/admin/prescriptions/dossierperson/?q={reference}",
        "timeline changelist": "/admin/prescriptions/dossierevent/",
        "timeline changelist ?p=999": "/admin/prescriptions/dossierevent/?p=999",
        "timeline search reference": f"/admin/prescriptions/dossierevent/?q={reference}",
        "phenotype changelist": "/admin/prescriptions/dossierphenotype/",
        "document changelist": "/admin/prescriptions/dossierdocument/",
        "audit changelist": "/admin/audit/auditentry/",
        "audit changelist ?p=999": "/admin/audit/auditentry/?p=999",
        "audit search reference": f"/admin/audit/auditentry/?q={reference}",
    }
    results = []
    print(f"{'page':34} {'status':>6} {'median ms':>10} {'max ms':>8} {'queries':>8} {'SQL ms':>7} {'kB':>7}")
    for name, url in pages.items():
        response = client.get(url)  # warm-up
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        with CaptureQueriesContext(connection) as queries:
            client.get(url)
        row = {
            "page": name,
            "url": url,
            "status": response.status_code,
            "median_ms": round(statistics.median(times), 1),
            "max_ms": round(max(times), 1),
            "queries": len(queries),
            "sql_ms": round(sum(float(q["time"]) for q in queries.captured_queries) * 1000, 1),
            "kB": round(len(response.content) / 1024, 1),
        }
        results.append(row)
        print(
            f"{name:34} {row['status']:>6} {row['median_ms']:>10} {row['max_ms']:>8} {row['queries']:>8} "
            f"{row['sql_ms']:>7} {row['kB']:>7}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
