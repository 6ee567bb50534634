"""Benchmark (not a test): the home list "Mes dossiers" for each demo role, at the size of the database it runs on.

    DATABASE_URL=postgres://…/<name>_bench DEBUG=true .venv/bin/python bench/home_list.py [--repeat 5] [--explain]

For the prescriber, the assistant, the coordinator, a laboratory's staff and biologist: page 1, a deep page
(page 1000 or the keyset cursor at the same row), a status filter, searches by a common name (MARTIN), a rare
name, a reference prefix and an INS. Prints the median wall time of the request (Django test client, in
process: the view, its queries and the template; no HTTP server), its query count and its slowest SELECT.
With ``--explain``, the EXPLAIN (ANALYZE, BUFFERS) of the two slowest SELECTs.

It reads only (the audit trail and the session get their rows): the same script measures the code before and
after a change, so that it runs against any version of the home list (``?page=`` or ``?curseur=``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pfmg.settings")

USERS = ("prescriber", "assistant", "coordinator", "lab_seqoia", "biologist_seqoia")
RARE_NAME = "KOWALSKA"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--only", default="", help="Comma-separated case names.")
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from people.models import User
    from prescriptions.models import Dossier, Patient

    if "bench" not in connection.settings_dict["NAME"]:
        sys.exit("Refusing a database whose name does not contain 'bench'.")
    print(f"{connection.vendor} {connection.settings_dict['NAME']}: {Dossier.objects.count()} dossiers")
    prescriber = User.objects.get(username="prescriber")
    # A rare name and an INS to look for, on three of the prescriber's patients (idempotent).
    rare = Patient.objects.filter(dossier_roles__dossier__prescriber=prescriber).order_by("pk")[:3]
    Patient.objects.filter(pk__in=[p.pk for p in rare]).update(birth_name=RARE_NAME)
    ins_patient = Patient.objects.filter(birth_name=RARE_NAME).order_by("pk").first()
    if not ins_patient.ins:
        Patient.objects.filter(pk=ins_patient.pk).update(ins="215037505608975")
    ins = Patient.objects.get(pk=ins_patient.pk).ins
    reference = ins_patient.dossier_roles.first().dossier.reference
    prefix = reference[:-2]  # about 100 references

    keyset = "curseur" in (Path(__file__).resolve().parent.parent / "prescriptions" / "views.py").read_text()
    only = set(filter(None, args.only.split(",")))

    def deep_url(user) -> str:
        if not keyset:
            return "/?page=1000"
        from pfmg.pagination import _encode
        from prescriptions.selectors import dossiers_visible_to

        row = dossiers_visible_to(user).order_by("-updated_at", "-pk")[24974:24975].get()
        return f"/?curseur={_encode('n', [row.updated_at, row.pk])}"

    for username in USERS:
        user = User.objects.get(username=username)
        client = Client()
        client.force_login(user)
        cases = {
            "page 1": ("GET", "/"),
            "deep page": ("GET", deep_url(user)),
            "status": ("GET", "/?statut=analysis"),
            "name MARTIN": ("POST", "MARTIN"),
            "rare name": ("POST", RARE_NAME.lower()),
            "reference prefix": ("POST", prefix),
            "INS": ("POST", ins),
        }
        for name, (method, target) in cases.items():
            if only and name not in only:
                continue
            url = target
            if method == "POST":
                url = client.post("/", {"q": target})["Location"]
            times, counts, slowest, second = [], [], ("", 0.0), ""
            for _ in range(args.repeat + 1):
                with CaptureQueriesContext(connection) as queries:
                    started = time.perf_counter()
                    response = client.get(url)
                    elapsed = time.perf_counter() - started
                assert response.status_code == 200, (username, name, response.status_code)
                times.append(elapsed)
                counts.append(len(queries))
                reads = [
                    q for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("SELECT")
                ]
                ranked = sorted(reads, key=lambda q: float(q["time"]), reverse=True)
                if float(ranked[0]["time"]) > slowest[1]:
                    slowest = (ranked[0]["sql"], float(ranked[0]["time"]))
                    second = ranked[1]["sql"]
            times = times[1:]  # the first one warms
            print(
                f"{username:17} {name:17} {statistics.median(times) * 1000:8.1f} ms  "
                f"{max(counts):3d} queries  slowest SELECT {slowest[1] * 1000:7.1f} ms"
            )
            if args.explain:  # the two slowest queries of the slowest run
                for sql in (slowest[0], second):
                    with connection.cursor() as cursor:
                        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
                        plan = "\n".join(f"      {row[0]}" for row in cursor.fetchall())
                    print(f"    {sql[:400]}\n{plan}")


if __name__ == "__main__":
    main()
