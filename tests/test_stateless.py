"""No state kept in a web process: files go through Django's storage (so a bucket serves every replica), the
cache and the sessions live in Redis and the database, never in one process's memory."""

import datetime as dt
import hashlib
import os

import pytest
import redis
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.core.files.storage import InMemoryStorage, default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from django.utils._os import safe_join

from consent import services as consent_services
from consent.models import ConsentRecord, Withdrawal
from labs.models import Report, Shipment
from people.models import LaboratoryMembership
from pfmg.demo import PATHS, Cast, walk
from prescriptions.models import Dossier
from tests import factories as f

pytestmark = pytest.mark.usefixtures("reference_data")
S = Dossier.Status


class BucketLikeStorage(InMemoryStorage):
    """Django's in-memory storage without a local path, as an S3 bucket has none: code that reaches for
    ``.path`` (to ``open()`` it) fails here as it would in production."""

    def path(self, name):
        raise NotImplementedError("A bucket has no local path: go through the storage.")

    def _relative_path(self, name):  # InMemoryStorage's own use of path()
        return os.path.relpath(safe_join(self.location, name), self.location)

    def _resolve(self, name, *args, **kwargs):
        try:
            return super()._resolve(name, *args, **kwargs)
        except NotADirectoryError as exc:  # its error message calls path() too
            raise FileNotFoundError(name) from exc


BUCKET_LIKE = {"BACKEND": f"{__name__}.BucketLikeStorage"}


@pytest.fixture(scope="module")
def s3_endpoint():
    """A real S3-protocol server on loopback (moto's), with the bucket the portal writes to."""
    boto3 = pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test", region_name="gra"
    ).create_bucket(Bucket="pfmg-test-files", CreateBucketConfiguration={"LocationConstraint": "gra"})
    yield endpoint
    server.stop()


def _storage(kind: str, request) -> dict:
    if kind == "bucket-like":
        return BUCKET_LIKE
    endpoint = request.getfixturevalue("s3_endpoint")
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": "pfmg-test-files",
            "endpoint_url": endpoint,
            "region_name": "gra",
            "access_key": "test",
            "secret_key": "test",
            "file_overwrite": False,
            "default_acl": None,
        },
    }


def _redis_cache(location: str) -> dict:
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": location,
            "KEY_PREFIX": "pfmg-test-stateless",
        }
    }


def _all_names(folder: str) -> list[str]:
    folders, files = default_storage.listdir(folder)
    return [f"{folder}/{name}" for name in files] + [
        name for sub in folders for name in _all_names(f"{folder}/{sub}")
    ]


def _served(response) -> bytes:
    assert response.status_code == 200, response
    return b"".join(response.streaming_content)


@pytest.mark.parametrize("kind", ["bucket-like", "s3"])
def test_a_whole_journey_runs_on_a_storage_that_is_not_a_file_system(
    client, settings, tmp_path, kind, request
):
    """Upload a document, render and download the PDFs, sign and download the report, with a storage standing
    for a bucket (no local path) and with a real S3 bucket (moto's server): nothing lands on the disk."""
    settings.MEDIA_ROOT = tmp_path / "media-never-written"
    settings.STORAGES = {**settings.STORAGES, "default": _storage(kind, request)}
    with pytest.raises(NotImplementedError):
        default_storage.path("anything")
    if kind == "s3":
        assert type(default_storage._wrapped).__name__ == "S3Storage"

    rcp = f.rcp_body()
    cast = Cast(
        prescriber=f.prescriber(),  # Paris: SeqOIA's territory
        coordinator=f.coordinator(rcp),
        lab_staff=f.lab_member("seqoia"),
        biologist=f.lab_member("seqoia", LaboratoryMembership.Function.BIOLOGIST),
    )
    dossier = f.dossier(prescriber_user=cast.prescriber, rcp=rcp)

    # The prescriber uploads a document through the prescribing page.
    client.force_login(cast.prescriber)
    content = b"%PDF-1.4 bilan de premiere intention"
    response = client.post(
        reverse("prescribe_step", args=[dossier.pk, "documents"]),
        {"action": "upload", "label": "Bilan", "file": SimpleUploadedFile("bilan.pdf", content)},
    )
    assert response.status_code == 302
    document = dossier.documents.get(label="Bilan")
    assert default_storage.exists(document.file.name)

    # Submission, RCP, consents, shipment, sequencing, the report deposited and signed: each render and file
    # written by the real services and tasks (eager here), into the storage.
    walk(dossier, PATHS[S.REPORT_SIGNED], cast, timezone.now() - dt.timedelta(days=30), dt.timedelta(hours=1))
    dossier.refresh_from_db()
    assert dossier.status == S.REPORT_SIGNED

    # Every download reads back from the storage.
    assert _served(client.get(reverse("document_download", args=[dossier.pk, document.pk]))) == content
    summary = _served(client.get(reverse("prescription_summary_pdf", args=[dossier.pk])))
    assert summary.startswith(b"%PDF")
    report = Report.objects.get(dossier=dossier, signed_at__isnull=False)
    signed = _served(client.get(reverse("labs_report_download", args=[report.pk])))
    assert hashlib.sha256(signed).hexdigest() == report.signed_sha256
    assert report.intact()
    client.force_login(cast.coordinator)
    minutes = _served(client.get(reverse("rcp:dossier_minutes", args=[dossier.pk])))
    assert minutes.startswith(b"%PDF")
    client.force_login(cast.lab_staff)
    shipment = Shipment.objects.filter(dossier=dossier).first()
    assert shipment is not None
    manifest = _served(client.get(reverse("labs_manifest_pdf", args=[shipment.pk])))
    assert manifest.startswith(b"%PDF")

    client.force_login(cast.prescriber)
    record = ConsentRecord.objects.exclude(scan="").get(person__dossier=dossier, person__relationship="index")
    person_pk = record.person_id
    scan = _served(client.get(reverse("consent:scan", args=[dossier.pk, person_pk])))
    assert hashlib.sha256(scan).hexdigest() == record.scan_sha256
    form = _served(client.get(reverse("consent:form_pdf", args=[dossier.pk, person_pk])))
    assert form.startswith(b"%PDF")

    folders = ("dossiers", "renders", "reports", "consents")
    stored = {name for folder in folders for name in _all_names(folder)}
    assert {document.file.name, report.file.name, report.signed_file.name, record.scan.name} <= stored
    renders = {name.rsplit("/", 1)[1].rsplit("-", 1)[0] for name in stored if name.startswith("renders/")}
    assert {"prescription-summary", "rcp-minutes", f"shipping-manifest-{shipment.pk}"} <= renders
    assert any(name.startswith("consent-") for name in renders)

    # A withdrawal, then the purge: the files of the dossier are deleted from the storage (listed, not walked
    # on a disk).
    settings.CONSENT_WITHDRAWAL_RETENTION_DAYS = 0
    consent_services.record_withdrawal(
        consent=record,
        actor=cast.prescriber,
        scope=Withdrawal.Scope.ALL,
        withdrawn_on=timezone.localdate(),
        reason="Courrier de la patiente.",
    )
    (deletion,) = consent_services.purge_due()
    assert deletion.files_deleted >= 4
    assert not default_storage.exists(document.file.name)
    assert not default_storage.exists(record.scan.name)
    assert default_storage.listdir(f"renders/{dossier.reference}")[1] == []
    assert not settings.MEDIA_ROOT.exists()  # nothing went around the storage to the disk


@pytest.mark.redis
def test_the_redis_cache_is_shared_outside_the_process(settings):
    settings.CACHES = _redis_cache(django_settings.CELERY_BROKER_URL)
    cache.set("answer", {"n": 42}, timeout=30)
    assert cache.get("answer") == {"n": 42}
    # Another client of the same Redis (another replica) finds it.
    raw = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    assert raw.exists(cache.make_key("answer"))
    cache.delete("answer")
    assert not raw.exists(cache.make_key("answer"))


@pytest.mark.redis
def test_a_session_lives_in_redis_and_the_database_and_survives_a_cold_cache(client, settings, db):
    settings.CACHES = _redis_cache(django_settings.CELERY_BROKER_URL)
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
    user = f.prescriber()
    client.force_login(user)
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    raw = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    cache_key = cache.make_key(f"django.contrib.sessions.cached_db{key}")
    assert raw.exists(cache_key)  # read by every replica from Redis
    assert Session.objects.filter(session_key=key).exists()  # and kept in the database
    raw.delete(cache_key)  # Redis restarted, or evicted it: the database still has it
    assert client.get(reverse("home")).status_code == 200
    assert client.get(reverse("home")).wsgi_request.user == user


@pytest.mark.redis
def test_a_replica_that_cannot_reach_the_shared_cache_is_not_ready(client, settings, db):
    settings.CACHE_IS_SHARED = True
    settings.CACHES = _redis_cache(django_settings.CELERY_BROKER_URL)
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json()["cache"] == "ok"

    settings.CACHES = _redis_cache("redis://127.0.0.1:9/0")  # nobody listens there
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["cache"].startswith("error:")
