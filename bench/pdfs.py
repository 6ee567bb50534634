"""Benchmark (not a test): prescription summaries ("bons de prescription") rendered per second, WeasyPrint called
directly in this process (no worker, no storage), then, with --worker, through real Celery workers.

    DEBUG=true .venv/bin/python bench/pdfs.py [--dossiers 30]
    CELERY_BROKER_URL=redis://127.0.0.1:6379/9 DEBUG=true .venv/bin/python bench/pdfs.py --worker [--concurrency 2]

With --worker, a Celery worker (prefork, --concurrency processes, queue "pdfs") is started on the same database
and media folder; each dossier's ``render_prescription_summary`` task is sent through the broker and counted
done when its PDF is in storage: the figure includes the broker round trip, loading the dossier from the
database and storing the file, which the direct figure does not. The worker's processes are warmed up (fonts,
stylesheets) before the timing starts.

Prepares submitted dossiers through the prescribing services (untimed: complete drafts of alternating solo
and trio families, attested and submitted), loads each with what its summary shows, renders one untimed to
warm up (fonts, stylesheets), then times ``prescriptions.pdf.render_prescription_summary`` for every dossier:
template, layout and PDF writing. Same database handling as bench/transitions.py: a scratch SQLite file under
/tmp unless DATABASE_URL is set, in which case the database's name must contain "bench".
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from scratch import ROOT, remove, setup_django  # noqa: E402 - bench/ is on sys.path when run as a script


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dossiers", type=int, default=30)
    parser.add_argument(
        "--any-database", action="store_true", help="Write to DATABASE_URL whatever its name."
    )
    parser.add_argument("--worker", action="store_true", help="Also render through Celery workers.")
    parser.add_argument("--concurrency", type=int, default=2, help="Worker processes (with --worker).")
    args = parser.parse_args()
    if args.worker and not os.environ.get("CELERY_BROKER_URL"):
        parser.error(
            "--worker needs CELERY_BROKER_URL (a Redis the bench may use, e.g. redis://127.0.0.1:6379/9)"
        )

    scratch: list[Path] = []
    try:
        setup_django(any_database=args.any_database, scratch=scratch)
        run(args)
    finally:
        remove(scratch)


def run(args: argparse.Namespace) -> None:
    import logging

    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from people.models import RcpBody
    from pfmg.celery import app
    from pfmg.demo import complete_draft, seed_people
    from prescriptions.drafting import attest_and_submit
    from prescriptions.models import PreIndication
    from prescriptions.pdf import dossier_for_rendering, render_prescription_summary
    from prescriptions.services import create_dossier

    # Preparing runs the tasks in this process (the submissions queue a render each): only the timed part
    # below goes through the broker.
    app.conf.task_always_eager = True
    # Quiet: WeasyPrint's progress lines (one per step and page), the submissions' notification e-mails.
    logging.getLogger("weasyprint").setLevel(logging.WARNING)
    logging.getLogger("celery").setLevel(logging.WARNING)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    print(f"Database: {connection.vendor} {connection.settings_dict['NAME']}")
    call_command("migrate", interactive=False, verbosity=0)
    call_command("load_reference", verbosity=0)
    users = seed_people()
    territories = [
        (users["prescriber"], RcpBody.objects.get(name="RCP-FMG Maladies rares Île-de-France (démo)")),
        (users["prescriber2"], RcpBody.objects.get(name="RCP-FMG-MR génomique Auvergne-Rhône-Alpes (démo)")),
    ]
    version = PreIndication.objects.get(slug="deficience-intellectuelle").current_version()
    assert version is not None, "the catalogue has no current version of deficience-intellectuelle"
    start = timezone.now() - dt.timedelta(days=30)

    began = time.perf_counter()
    ids = []
    for i in range(args.dossiers):
        prescriber, rcp = territories[i % 2]
        with transaction.atomic():
            dossier = create_dossier(
                prescriber=prescriber, entered_by=prescriber, pre_indication_version=version, at=start
            )
            complete_draft(dossier, prescriber, i, trio=i % 2 == 1)
            attest_and_submit(dossier=dossier, prescriber=prescriber, rcp=rcp, at=start)
        ids.append(dossier.pk)
    dossiers = [dossier_for_rendering(pk) for pk in ids]
    print(f"Prepared {len(dossiers)} submitted dossiers in {time.perf_counter() - began:.1f}s")

    began = time.perf_counter()
    first = render_prescription_summary(dossiers[0])
    print(f"Warm-up render (fonts, stylesheets): {1000 * (time.perf_counter() - began):.0f} ms")

    times: list[float] = []
    sizes: list[int] = []
    for dossier in dossiers:
        began = time.perf_counter()
        data = render_prescription_summary(dossier)
        times.append(time.perf_counter() - began)
        sizes.append(len(data))
    assert render_prescription_summary(dossiers[0]) == first, "rendering is not deterministic"

    total = sum(times)
    print(f"{len(times)} summaries rendered in {total:.1f}s (one process, WeasyPrint called directly)")
    print(
        f"{len(times) / total:.1f} PDFs/second, {1000 * statistics.median(times):.0f} ms each "
        f"(median; max {1000 * max(times):.0f} ms), {statistics.mean(sizes) / 1024:.0f} KiB on average"
    )
    if args.worker:
        through_worker(dossiers, args.concurrency, direct_rate=len(times) / total)


def through_worker(dossiers, concurrency: int, *, direct_rate: float) -> None:
    from django.core.files.storage import default_storage

    from pfmg.celery import app
    from prescriptions.pdf import prescription_summary_path, renders_folder
    from prescriptions.tasks import render_prescription_summary

    app.conf.task_always_eager = False

    def clear_renders() -> None:
        for dossier in dossiers:
            folder = renders_folder(dossier)
            if default_storage.exists(folder):
                for name in default_storage.listdir(folder)[1]:
                    default_storage.delete(f"{folder}/{name}")

    def wait_for_renders(batch, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pending = list(batch)
        while pending:
            pending = [d for d in pending if prescription_summary_path(d) is None]
            if pending and time.monotonic() > deadline:
                sys.exit(f"{len(pending)} render(s) not done after {timeout:.0f}s: is the worker running?")
            time.sleep(0.02)

    with app.connection_for_write() as connection:
        app.amqp.queues["pdfs"].bind(connection.default_channel).purge()
    command = [sys.executable, "-m", "celery", "-A", "pfmg", "worker", "-Q", "pdfs", "-c", str(concurrency)]
    command += ["-l", "warning", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    worker = subprocess.Popen(command, cwd=ROOT, env=os.environ.copy())  # noqa: S603 - our own command line
    try:
        clear_renders()
        warm = dossiers[: 2 * concurrency]
        began = time.perf_counter()
        for dossier in warm:
            render_prescription_summary.delay(dossier.pk)
        wait_for_renders(warm, timeout=120)
        print(f"Worker started and warmed up ({concurrency} processes) in {time.perf_counter() - began:.1f}s")

        clear_renders()
        began = time.perf_counter()
        for dossier in dossiers:
            render_prescription_summary.delay(dossier.pk)
        wait_for_renders(dossiers, timeout=600)
        total = time.perf_counter() - began
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    rate = len(dossiers) / total
    print(
        f"{len(dossiers)} summaries rendered and stored in {total:.1f}s through the worker ({concurrency} processes)"
    )
    print(
        f"{rate:.1f} PDFs/second through the worker, against {direct_rate:.1f} called directly "
        f"({rate / direct_rate:.2f}x)"
    )


if __name__ == "__main__":
    main()
