"""Benchmark (not a test): throughput of ``prescriptions.services.transition_dossier``, the one way a status moves.

    DEBUG=true .venv/bin/python bench/transitions.py [--dossiers 300]

Prepares complete drafts through the prescribing services (untimed), then walks each from draft to closed
with the demo cast (permission, conditions, optimistic lock, timeline entry: everything a user's click
costs; the submission goes through ``drafting.attest_and_submit``, which wraps the transition). Same database
handling as bench/seed_scale.py: a scratch SQLite file under /tmp unless DATABASE_URL is set, in which case
the database's name must contain "bench".
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time
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
    args = parser.parse_args()

    scratch: list[Path] = []
    try:
        setup_django(any_database=args.any_database, scratch=scratch)
        run(args)
    finally:
        remove(scratch)


def run(args: argparse.Namespace) -> None:
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from labs.services import route_dossier
    from people.models import RcpBody
    from pfmg.demo import PATHS, REASONS, Cast, complete_draft, seed_people
    from prescriptions.drafting import attest_and_submit
    from prescriptions.models import Dossier, PreIndication
    from prescriptions.services import create_dossier, transition_dossier

    print(f"Database: {connection.vendor} {connection.settings_dict['NAME']}")
    call_command("migrate", interactive=False, verbosity=0)
    call_command("load_reference", verbosity=0)
    users = seed_people()
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

    timed = 0.0
    fired = 0
    queries: list[int] = []
    counted = [0]

    def count(execute, sql, params, many, context):
        counted[0] += 1
        return execute(sql, params, many, context)

    for dossier, cast, rcp in dossiers:
        at = start
        for name in path:
            at += dt.timedelta(days=3)
            if name == "finalise":
                # Untimed: routing is a labs write that comes with finalising, not a transition.
                route_dossier(dossier=dossier, actor=cast.prescriber, at=at - dt.timedelta(days=1))
            counted[0] = 0
            with connection.execute_wrapper(count):
                began = time.perf_counter()
                if name == "submit":
                    # The prescriber's submission: RCP-FMG choice, attestation and the transition, at once.
                    attest_and_submit(dossier=dossier, prescriber=cast.prescriber, rcp=rcp, at=at)
                else:
                    transition_dossier(
                        dossier=dossier,
                        name=name,
                        actor=cast.actor_for(name),
                        reason=REASONS.get(name, ""),
                        at=at,
                    )
                timed += time.perf_counter() - began
            queries.append(counted[0])
            fired += 1

    rate = fired / timed
    print(f"{fired} transitions ({len(path)} per dossier, draft to closed) in {timed:.1f}s")
    print(
        f"{rate:.0f} transitions/second, {1000 * timed / fired:.1f} ms each, "
        f"{statistics.median(queries):.0f} queries each (median, max {max(queries)})"
    )
    assert Dossier.objects.filter(
        pk__in=[d.pk for d, _, _ in dossiers], status=Dossier.Status.CLOSED
    ).count() == len(dossiers)


if __name__ == "__main__":
    main()
