"""Signed reports that prove themselves: the laboratory's PAdES signature, checked by pyhanko, the verification
page and ``manage.py verify_report``; no certificate, no signature."""

import datetime as dt
import hashlib
from io import BytesIO
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from labs import services
from labs.demo import minimal_pdf
from labs.models import Report
from labs.signing import DEMO_ROOT_FILE
from people.models import LaboratoryMembership
from pfmg.demo import PATHS, Cast, walk
from prescriptions.models import Dossier
from tests import factories as f

pytestmark = pytest.mark.usefixtures("reference_data")
S = Dossier.Status
VERIFY_URL = "/laboratoire/comptes-rendus/verifier/"


@pytest.fixture
def cast(db):
    rcp = f.rcp_body()
    return Cast(
        prescriber=f.prescriber(),  # Paris: SeqOIA's territory
        coordinator=f.coordinator(rcp),
        lab_staff=f.lab_member("seqoia"),
        biologist=f.lab_member("seqoia", LaboratoryMembership.Function.BIOLOGIST),
    )


def walked(cast, status):
    dossier = f.dossier(prescriber_user=cast.prescriber, rcp=cast.coordinator.rcp_memberships.get().rcp)
    walk(dossier, PATHS[status], cast, timezone.now() - dt.timedelta(days=30), dt.timedelta(hours=1))
    dossier.refresh_from_db()
    return dossier


def signed_report(cast, text="Compte rendu"):
    dossier = walked(cast, S.ANALYSIS)
    report = services.upload_report(
        dossier=dossier,
        actor=cast.lab_staff,
        uploaded=SimpleUploadedFile("cr.pdf", minimal_pdf(text), content_type="application/pdf"),
    )
    return services.sign_report(report=report, actor=cast.biologist, strong_auth_at=timezone.now())


def stored(name: str) -> bytes:
    with default_storage.open(name, "rb") as file:
        return file.read()


def pyhanko_status(data: bytes):
    root = load_cert_from_pemder(str(Path(django_settings.REPORT_SIGNING_DIR) / DEMO_ROOT_FILE))
    context = ValidationContext(trust_roots=[root], allow_fetching=False)
    signature = PdfFileReader(BytesIO(data)).embedded_signatures[0]
    return validate_pdf_signature(signature, signer_validation_context=context, ts_validation_context=context)


def test_a_signed_report_carries_the_laboratory_s_pades_signature_valid_against_the_demo_root(cast):
    report = signed_report(cast)
    original, signed = stored(report.file.name), stored(report.signed_file.name)
    # What was deposited stays as it was, beside the signed file; each hash is that of its own file.
    assert report.signed_file.name != report.file.name
    assert hashlib.sha256(original).hexdigest() == report.sha256
    assert hashlib.sha256(signed).hexdigest() == report.signed_sha256 != report.sha256
    assert signed.startswith(original)  # an incremental update: the signature adds, never rewrites
    assert report.intact()

    status = pyhanko_status(signed)
    assert status.bottom_line and status.intact and status.valid and status.trusted
    assert status.signing_cert.subject.native["organization_name"] == "SeqOIA"
    assert "CN=SeqOIA" in report.signature_subject
    assert status.timestamp_validity is not None and status.timestamp_validity.valid
    assert abs(status.timestamp_validity.timestamp - timezone.now()) < dt.timedelta(minutes=5)
    sig_object = PdfFileReader(BytesIO(signed)).embedded_signatures[0].sig_object
    assert sig_object["/Name"] == cast.biologist.get_full_name()
    assert "SeqOIA" in sig_object["/Reason"] and cast.biologist.get_full_name() in sig_object["/Reason"]


def test_the_report_page_and_the_download_give_the_signed_file(cast, client):
    report = signed_report(cast)
    client.force_login(cast.prescriber)
    page = client.get(reverse("labs_report", args=[report.dossier.pk])).content.decode()
    assert "Signature électronique PAdES du laboratoire" in page
    assert "CN=SeqOIA - signature des comptes rendus" in page
    response = client.get(reverse("labs_report_download", args=[report.pk]))
    served = b"".join(response.streaming_content)
    assert hashlib.sha256(served).hexdigest() == report.signed_sha256
    assert pyhanko_status(served).bottom_line


def test_signing_without_a_certificate_for_the_laboratory_is_refused(cast, settings, tmp_path):
    dossier = walked(cast, S.ANALYSIS)
    report = services.upload_report(
        dossier=dossier,
        actor=cast.lab_staff,
        uploaded=SimpleUploadedFile("cr.pdf", minimal_pdf("Compte rendu"), content_type="application/pdf"),
    )
    configured = settings.REPORT_SIGNING_DIR
    settings.REPORT_SIGNING_DIR = tmp_path  # no seqoia.p12 there
    with pytest.raises(
        services.LabActionRefused,
        match="Aucun certificat de signature n'est configuré pour le laboratoire SeqOIA",
    ):
        services.sign_report(report=report, actor=cast.biologist, strong_auth_at=timezone.now())
    report.refresh_from_db()
    dossier.refresh_from_db()
    assert not report.is_signed and not report.signed_file and dossier.status == S.ANALYSIS

    settings.REPORT_SIGNING_PASSWORD = "not-the-password"
    settings.REPORT_SIGNING_DIR = configured
    with pytest.raises(services.LabActionRefused, match="ne peut pas être ouvert"):
        services.sign_report(report=report, actor=cast.biologist, strong_auth_at=timezone.now())


def test_the_page_and_the_command_detect_a_byte_changed_after_signing(cast, client, tmp_path, capsys):
    report = signed_report(cast)
    signed = stored(report.signed_file.name)
    tampered = bytearray(signed)
    where = tampered.index(b"(Compte rendu)")
    tampered[where + 1 : where + 2] = b"K"  # one byte of the signed content
    good_file, bad_file = tmp_path / "good.pdf", tmp_path / "bad.pdf"
    good_file.write_bytes(signed)
    bad_file.write_bytes(bytes(tampered))

    client.force_login(cast.prescriber)
    page = client.post(VERIFY_URL, {"file": SimpleUploadedFile("cr.pdf", signed)}).content.decode()
    assert "Signature valide : le fichier est intact et signé par un laboratoire de confiance." in page
    assert "CN=SeqOIA - signature des comptes rendus" in page
    assert cast.biologist.get_full_name() in page
    assert f"version 1 du compte rendu du dossier {report.dossier.reference}" in page

    page = client.post(VERIFY_URL, {"file": SimpleUploadedFile("cr.pdf", bytes(tampered))}).content.decode()
    assert "Signature non valide." in page
    assert "Le contenu signé a été modifié après la signature." in page
    assert report.dossier.reference not in page  # not the stored file: not known

    call_command("verify_report", str(good_file))
    assert "CN=SeqOIA" in capsys.readouterr().out
    with pytest.raises(CommandError, match="Le contenu signé a été modifié après la signature"):
        call_command("verify_report", str(bad_file))
    appended = tmp_path / "appended.pdf"
    appended.write_bytes(signed + b"\n%% added after signing\n")
    with pytest.raises(CommandError, match="complété ou modifié après la signature"):
        call_command("verify_report", str(appended))
    unsigned = tmp_path / "unsigned.pdf"
    unsigned.write_bytes(minimal_pdf("Compte rendu"))
    with pytest.raises(CommandError, match="aucune signature"):
        call_command("verify_report", str(unsigned))


def test_the_page_names_the_dossier_only_to_someone_who_may_see_the_report(cast, client):
    report = signed_report(cast)
    signed = stored(report.signed_file.name)
    for outsider in (f.prescriber(), f.lab_member("auragen", LaboratoryMembership.Function.BIOLOGIST)):
        client.force_login(outsider)
        page = client.post(VERIFY_URL, {"file": SimpleUploadedFile("cr.pdf", signed)}).content.decode()
        assert "Signature valide" in page  # the file proves itself to anyone
        assert "non reconnu parmi les comptes rendus que vous pouvez consulter" in page
        assert report.dossier.reference not in page
    client.logout()
    assert client.get(VERIFY_URL).status_code == 302  # login required


def test_a_certificate_outside_the_trusted_roots_is_not_trusted(cast, settings, tmp_path):
    """A laboratory certificate from another authority (here a second demo root) signs validly, but the
    verification does not trust it."""
    from labs.certificates import generate_demo_certificates
    from people.models import Laboratory

    generate_demo_certificates(tmp_path, Laboratory.objects.filter(code="seqoia"), "other-password")
    settings.REPORT_SIGNING_DIR, settings.REPORT_SIGNING_PASSWORD = tmp_path, "other-password"
    report = signed_report(cast)
    path = tmp_path / "rogue.pdf"
    path.write_bytes(stored(report.signed_file.name))
    settings.DEMO_MODE = False  # the trusted roots are those of REPORT_SIGNING_TRUST_ROOTS only
    with pytest.raises(CommandError, match="ne remonte pas à une autorité de confiance"):
        call_command("verify_report", str(path))


def test_an_amended_report_is_signed_the_same_way(cast):
    first = signed_report(cast)
    amended = services.upload_report(
        dossier=first.dossier,
        actor=cast.lab_staff,
        uploaded=SimpleUploadedFile("v2.pdf", minimal_pdf("Compte rendu v2"), content_type="application/pdf"),
        amends=first,
        reason="Erreur de nomenclature du variant",
    )
    amended = services.sign_report(report=amended, actor=cast.biologist, strong_auth_at=timezone.now())
    signed = stored(amended.signed_file.name)
    assert hashlib.sha256(signed).hexdigest() == amended.signed_sha256
    assert hashlib.sha256(stored(amended.file.name)).hexdigest() == amended.sha256
    assert pyhanko_status(signed).bottom_line
    assert amended.intact() and Report.objects.get(pk=first.pk).intact()


def test_demo_certificates_are_for_the_demo_only_and_kept_when_valid(settings, tmp_path, capsys):
    settings.DEMO_MODE = False
    with pytest.raises(CommandError, match="DEMO_MODE only"):
        call_command("generate_demo_certificates", directory=str(tmp_path))
    settings.DEMO_MODE = True
    settings.REPORT_SIGNING_PASSWORD = "demo-password"
    call_command("generate_demo_certificates", directory=str(tmp_path))
    assert {p.name for p in tmp_path.iterdir()} >= {"demo-root-ca.pem", "auragen.p12", "seqoia.p12"}
    before = (tmp_path / "seqoia.p12").read_bytes()
    capsys.readouterr()
    call_command("generate_demo_certificates", directory=str(tmp_path))
    assert "up to date" in capsys.readouterr().out
    assert (tmp_path / "seqoia.p12").read_bytes() == before


def test_a_malformed_pdf_is_refused_at_signing_with_what_to_do(cast):
    dossier = walked(cast, S.ANALYSIS)
    report = services.upload_report(
        dossier=dossier,
        actor=cast.lab_staff,
        uploaded=SimpleUploadedFile("cr.pdf", b"%PDF-1.4 not really a PDF", content_type="application/pdf"),
    )
    with pytest.raises(services.LabActionRefused, match="mal formé .* déposez-le à nouveau"):
        services.sign_report(report=report, actor=cast.biologist, strong_auth_at=timezone.now())
    report.refresh_from_db()
    assert not report.is_signed
