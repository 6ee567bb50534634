"""Benchmark (not a test): how fast ``manage.py seed_scale`` loads synthetic dossiers.

    DEBUG=true .venv/bin/python bench/seed_scale.py [--dossiers 20000] [--batch 5000] [--seed 42]

Without DATABASE_URL it works in a fresh SQLite file under /tmp, deleted afterwards, so var/db.sqlite3 is never
touched. With DATABASE_URL (PostgreSQL) the database's name must contain "bench": the seed adds thousands of
fake dossiers and nothing removes them. See bench/README.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from scratch import remove, setup_django  # noqa: E402 - bench/ is on sys.path when run as a script


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dossiers", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--any-database", action="store_true", help="Seed DATABASE_URL whatever its name.")
    args = parser.parse_args()

    scratch: list[Path] = []
    try:
        setup_django(any_database=args.any_database, scratch=scratch)
        run(args)
    finally:
        remove(scratch)


def run(args: argparse.Namespace) -> None:
    from django.core.management import call_command
    from django.db import connection

    from pfmg.demo import seed_people
    from prescriptions.models import Dossier, DossierEvent, Patient

    print(f"Database: {connection.vendor} {connection.settings_dict['NAME']}")
    call_command("migrate", interactive=False, verbosity=0)
    # Reference data and demo people first, untimed: they are a one-off cost (password hashing) that would
    # blur a small run's rate.
    call_command("load_reference", verbosity=0)
    seed_people()
    before = (Dossier.objects.count(), DossierEvent.objects.count(), Patient.objects.count())

    started = time.perf_counter()
    call_command("seed_scale", dossiers=args.dossiers, batch=args.batch, seed=args.seed)
    elapsed = time.perf_counter() - started

    after = (Dossier.objects.count(), DossierEvent.objects.count(), Patient.objects.count())
    dossiers, events, patients = (b - a for a, b in zip(before, after, strict=True))
    assert dossiers == args.dossiers, (dossiers, args.dossiers)
    rate = dossiers / elapsed
    print()
    print(f"{dossiers} dossiers, {events} events, {patients} patients in {elapsed:.1f}s")
    print(f"{rate:.0f} dossiers/second; 100,000 dossiers would take about {100_000 / rate:.0f}s")
    if before[0]:
        print(f"(the database already held {before[0]} dossiers)")


if __name__ == "__main__":
    main()
