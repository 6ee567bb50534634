"""Benchmark (not a test): how fast ``manage.py seed_scale`` loads synthetic dossiers.

    DEBUG=true .venv/bin/python bench/seed_scale.py [--dossiers 20000] [--batch 5000] [--seed 42]

``--dossiers`` is the number of dossiers to add to what the database holds (the command itself takes the total
wanted). Without DATABASE_URL it works in a fresh SQLite file under /tmp, deleted afterwards, so var/db.sqlite3 is
never touched. With DATABASE_URL (PostgreSQL) the database's name must contain "bench": the seed adds thousands
of fake dossiers and nothing removes them. See bench/README.md.

Besides the wall-clock rate it prints the CPU time spent by this process (planning and formatting the rows) and,
on PostgreSQL, by the server process of its connection (COPY, indexes, foreign-key checks at commit), so that a
figure taken on a busy machine still says what the load costs; and the process's peak memory.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

from scratch import remove, setup_django  # noqa: E402 - bench/ is on sys.path when run as a script


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dossiers", type=int, default=20000, help="How many dossiers to add.")
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--trust-keys", action="store_true", help="Pass --trust-keys to seed_scale (PostgreSQL superuser)."
    )
    parser.add_argument("--any-database", action="store_true", help="Seed DATABASE_URL whatever its name.")
    args = parser.parse_args()

    scratch: list[Path] = []
    try:
        setup_django(any_database=args.any_database, scratch=scratch)
        run(args)
    finally:
        remove(scratch)


def _server_cpu(pid: int | None) -> float:
    """CPU seconds used so far by the PostgreSQL backend ``pid`` (same machine), or 0 if unreadable."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    import os

    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class BackendWatch:
    """The CPU time of every PostgreSQL backend connected to this database (the seed writes through a second
    connection), sampled twice a second until ``stop``. The database is a bench one: nobody else uses it."""

    def __init__(self, connection) -> None:
        import threading

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            (self.own,) = cursor.fetchone()
        import psycopg2

        self.watcher = psycopg2.connect(**connection.get_connection_params())
        self.watcher.autocommit = True
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.done = threading.Event()
        self.sample()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def sample(self) -> None:
        # Its own psycopg2 connection (excluded from the sum): Django's is not for this thread.
        with self.watcher.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
            )
            pids = [row[0] for row in cursor.fetchall()]
        for pid in map(int, pids):
            cpu = _server_cpu(pid)
            if cpu:
                self.first.setdefault(pid, cpu if pid == self.own else 0.0)
                self.last[pid] = cpu

    def loop(self) -> None:
        while not self.done.wait(0.5):
            self.sample()

    def stop(self) -> float:
        self.done.set()
        self.thread.join()
        self.sample()
        self.watcher.close()
        return sum(self.last[pid] - self.first[pid] for pid in self.last)


def run(args: argparse.Namespace) -> None:
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from pfmg.demo import seed_people
    from prescriptions.models import Dossier, DossierEvent, Patient

    print(f"Database: {connection.vendor} {connection.settings_dict['NAME']}, DEBUG={settings.DEBUG}")
    call_command("migrate", interactive=False, verbosity=0)
    # Reference data and demo people first, untimed: they are a one-off cost (password hashing) that would
    # blur a small run's rate.
    call_command("load_reference", verbosity=0)
    seed_people()
    before = (Dossier.objects.count(), DossierEvent.objects.count(), Patient.objects.count())
    backends = BackendWatch(connection) if connection.vendor == "postgresql" else None

    cpu_before = time.process_time()
    started = time.perf_counter()
    call_command(
        "seed_scale",
        dossiers=before[0] + args.dossiers,
        batch=args.batch,
        seed=args.seed,
        trust_keys=args.trust_keys,
    )
    elapsed = time.perf_counter() - started
    client_cpu = time.process_time() - cpu_before
    server_cpu = backends.stop() if backends else 0.0

    after = (Dossier.objects.count(), DossierEvent.objects.count(), Patient.objects.count())
    dossiers, events, patients = (b - a for a, b in zip(before, after, strict=True))
    assert dossiers == args.dossiers, (dossiers, args.dossiers)
    rate = dossiers / elapsed
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print()
    print(f"{dossiers} dossiers, {events} events, {patients} patients in {elapsed:.1f}s")
    print(f"{rate:.0f} dossiers/second; 2,350,000 dossiers would take about {2_350_000 / rate / 60:.0f} min")
    print(
        f"CPU per 1,000 dossiers: this process {1000 * client_cpu / dossiers:.2f}s"
        + (f", PostgreSQL backends {1000 * server_cpu / dossiers:.2f}s" if backends else "")
    )
    print(
        f"Peak memory (RSS) of this process: {peak:.0f} MB; Django's query log holds {len(connection.queries)}"
    )
    print(f"Load average at the end: {' '.join(f'{x:.1f}' for x in __import__('os').getloadavg())}")
    if before[0]:
        print(f"(the database already held {before[0]} dossiers)")


if __name__ == "__main__":
    main()
