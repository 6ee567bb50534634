"""On a real Celery worker and a real Redis: a transition's inbox entry, e-mail and PDF (rendered and stored by
the worker); with Redis stopped the transition still commits, and its e-mail and PDF follow once Redis is back;
a worker killed in the middle of sending loses nothing, and the e-mail is sent once, by the next worker."""

import datetime
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection

from notifications.models import Notification, OutboxEmail
from pfmg.celery import app
from prescriptions.drafting import attest_and_submit
from prescriptions.models import Dossier
from prescriptions.pdf import prescription_summary_path
from prescriptions.tests.test_pdf import pdf_text
from tests import factories as f

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateRedis:
    """A Redis of the test's own, on a free port, that the test may stop and start again."""

    def __init__(self, tmp_path: Path) -> None:
        self.port = free_port()
        self.dir = tmp_path
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(50):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


def start_worker(broker: str, mail_dir: Path, log: Path, **extra_env: str) -> subprocess.Popen:
    db = connection.settings_dict
    env = {
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),  # the worker stores its renders where this process reads them
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "CELERY_BROKER_URL": broker,
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(mail_dir),
        "CONN_MAX_AGE": "0",
        **extra_env,
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "pfmg",
            "worker",
            "-Q",
            "celery,notifications,pdfs",
            "-P",
            "solo",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "-l",
            "info",
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def wait_for(predicate, timeout=45.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.3)
    return False


@pytest.fixture
def broker(tmp_path, monkeypatch, settings):
    redis = PrivateRedis(tmp_path)
    previous = app.conf.broker_url
    # Point this process's Celery app at the private Redis: new connection and producer pools (Celery reads
    # CELERY_BROKER_URL from the environment before its configuration).
    monkeypatch.setenv("CELERY_BROKER_URL", redis.url)
    app.conf.broker_url = redis.url
    monkeypatch.setattr(app, "_pool", None)
    monkeypatch.setattr(app.amqp, "_producer_pool", None)
    yield redis
    redis.stop()
    app.pool.force_close_all()
    app.conf.broker_url = previous


def submitted_dossier() -> Dossier:
    rcp = f.rcp_body()
    f.coordinator(rcp, user=f.UserFactory(email="coordination@chu.invalid"))
    prescriber = f.prescriber()
    dossier = f.dossier(prescriber_user=prescriber, rcp=rcp)
    attest_and_submit(dossier=dossier, prescriber=prescriber, rcp=rcp)
    return dossier


def test_the_worker_sends_the_email_of_a_transition(reference_data, broker, tmp_path):
    broker.start()
    mail_dir = tmp_path / "mail"
    worker = start_worker(broker.url, mail_dir, tmp_path / "worker.log")
    try:
        dossier = submitted_dossier()
        assert Notification.objects.filter(dossier=dossier).exists()
        sent = wait_for(lambda: OutboxEmail.objects.filter(state=OutboxEmail.State.SENT).exists())
        assert sent, (tmp_path / "worker.log").read_text()[-3000:]
        files = list(mail_dir.iterdir())
        assert len(files) == 1 and dossier.reference in files[0].read_text()
        # The bon de prescription, rendered by the worker on the pdfs queue and stored.
        assert wait_for(lambda: prescription_summary_path(dossier) is not None)
        with default_storage.open(prescription_summary_path(dossier), "rb") as pdf:
            assert dossier.reference in pdf_text(pdf.read(), tmp_path)
    finally:
        worker.terminate()
        worker.wait(timeout=20)


def test_with_redis_stopped_the_transition_commits_and_its_email_and_pdf_follow_when_it_is_back(
    reference_data, broker, tmp_path
):
    # Redis is not running: the transition must still commit, its e-mail waiting in the outbox.
    dossier = submitted_dossier()
    assert Dossier.objects.get(pk=dossier.pk).status == Dossier.Status.SUBMITTED
    email = OutboxEmail.objects.get()
    assert email.state == OutboxEmail.State.PENDING

    assert prescription_summary_path(dossier) is None  # its render could not be queued either

    broker.start()
    mail_dir = tmp_path / "mail"
    worker = start_worker(broker.url, mail_dir, tmp_path / "worker.log")
    try:
        OutboxEmail.objects.update(created_at=email.created_at - datetime.timedelta(minutes=5))
        # What beat runs every minute (OUTBOX_DISPATCH_SECONDS) and every five (RENDER_SWEEP_SECONDS), sent
        # through the broker to the worker.
        app.send_task("notifications.tasks.dispatch_pending_emails", queue="notifications")
        app.send_task("pfmg.tasks.sweep_missing_renders")
        sent = wait_for(
            lambda: OutboxEmail.objects.filter(pk=email.pk, state=OutboxEmail.State.SENT).exists()
        )
        assert sent, (tmp_path / "worker.log").read_text()[-3000:]
        assert len(list(mail_dir.iterdir())) == 1
        assert wait_for(lambda: prescription_summary_path(dossier) is not None), (
            tmp_path / "worker.log"
        ).read_text()[-3000:]
        with default_storage.open(prescription_summary_path(dossier), "rb") as pdf:
            assert dossier.reference in pdf_text(pdf.read(), tmp_path)
    finally:
        worker.terminate()
        worker.wait(timeout=20)


def test_a_worker_killed_while_sending_loses_nothing_and_the_next_worker_sends_it_once(
    reference_data, broker, tmp_path
):
    """acks_late: the task stays unacknowledged in Redis while the worker runs it. Killed (SIGKILL, no chance to
    clean up), the worker's transaction rolls back and the task is redelivered to the next worker once the
    visibility timeout has passed (3 s here, CELERY_VISIBILITY_TIMEOUT; an hour by default)."""
    broker.start()
    mail_dir = tmp_path / "mail"
    marker = tmp_path / "sending"
    quick_redelivery = {"CELERY_VISIBILITY_TIMEOUT": "3", "CELERY_UNACKED_RESTORE_SECONDS": "1"}
    first = start_worker(
        broker.url,
        mail_dir,
        tmp_path / "first.log",
        EMAIL_BACKEND="notifications.tests.slow_mail.SlowFileBackend",
        SLOW_MAIL_SECONDS="120",
        SLOW_MAIL_MARKER=str(marker),
        **quick_redelivery,
    )
    second = None
    try:
        dossier = submitted_dossier()
        email = OutboxEmail.objects.get(notification__dossier=dossier)
        assert wait_for(marker.exists, timeout=60), (tmp_path / "first.log").read_text()[-3000:]
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=20)

        email.refresh_from_db()
        assert email.state == OutboxEmail.State.PENDING  # the killed attempt left no trace
        assert not mail_dir.exists() or not list(mail_dir.iterdir())

        second = start_worker(broker.url, mail_dir, tmp_path / "second.log", **quick_redelivery)
        sent = wait_for(
            lambda: OutboxEmail.objects.filter(pk=email.pk, state=OutboxEmail.State.SENT).exists()
        )
        assert sent, (tmp_path / "second.log").read_text()[-3000:]
        # Sent once: one file, and no second delivery after a few more restore sweeps.
        time.sleep(5)
        files = list(mail_dir.iterdir())
        assert len(files) == 1 and dossier.reference in files[0].read_text()
        email.refresh_from_db()
        assert email.attempts == 1
        assert "notifications.tasks.send_email" in (tmp_path / "second.log").read_text()
    finally:
        for worker in (first, second):
            if worker is not None and worker.poll() is None:
                worker.terminate()
                worker.wait(timeout=20)
