"""Response headers and stored files: nothing cached, nothing inline, uploads only through checked downloads."""

from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from prescriptions.drafting import add_document
from tests import factories as f

pytestmark = pytest.mark.usefixtures("reference_data")


@pytest.fixture
def document(db):
    dossier = f.dossier()
    doc = add_document(
        dossier=dossier,
        actor=dossier.prescriber,
        expected=None,
        label="Compte rendu de consultation",
        uploaded=SimpleUploadedFile("cr.pdf", b"%PDF-1.4 consultation"),
    )
    return doc


def csp_directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


def test_every_page_has_a_policy_without_inline_code(client, document):
    for response in (client.get(reverse("login")), _signed_in(client, document).get("/")):
        policy = csp_directives(response)
        assert policy["default-src"] == ["'self'"]
        assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
        assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
        assert "unsafe-inline" not in response["Content-Security-Policy"]
        assert response["X-Frame-Options"] == "DENY"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["X-Content-Type-Options"] == "nosniff"


def test_pages_shown_to_a_signed_in_user_are_never_stored(client, document):
    client = _signed_in(client, document)
    for url in ("/", reverse("dossier_detail", args=[document.dossier.pk])):
        response = client.get(url)
        assert response.status_code == 200
        assert "no-store" in response["Cache-Control"], url


def test_api_answers_to_a_token_are_never_stored(client, document):
    token = client.post(
        "/api/v1/auth/token/",
        {"username": document.dossier.prescriber.username, "password": f.PASSWORD},
        content_type="application/json",
    ).json()["token"]
    response = client.get("/api/v1/pre-indications/", HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


def test_a_document_is_downloaded_as_an_attachment_never_sniffed_nor_stored(client, document):
    client = _signed_in(client, document)
    response = client.get(reverse("document_download", args=[document.dossier.pk, document.pk]))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in response["Cache-Control"]
    assert b"".join(response.streaming_content) == b"%PDF-1.4 consultation"


def test_a_stored_document_is_not_reachable_by_its_media_path(client, document):
    client = _signed_in(client, document)
    assert (Path(settings.MEDIA_ROOT) / document.file.name).exists()
    for url in (
        f"/{settings.MEDIA_URL.strip('/')}/{document.file.name}",
        f"/{settings.STATIC_URL.strip('/')}/{document.file.name}",
        f"/{document.file.name}",
    ):
        assert client.get(url).status_code == 404, url


def test_uploads_live_outside_every_static_root():
    media = Path(settings.MEDIA_ROOT).resolve()
    for static_root in (Path(settings.STATIC_ROOT), *map(Path, settings.STATICFILES_DIRS)):
        assert not media.is_relative_to(static_root.resolve())
    # And with the default settings too (the tests move MEDIA_ROOT to a temporary directory).
    default_media = Path(settings.VAR_DIR).resolve() / "media"
    assert not default_media.is_relative_to(Path(settings.STATIC_ROOT).resolve())
    assert not default_media.is_relative_to((Path(settings.BASE_DIR) / "static").resolve())


def _signed_in(client, document):
    client.force_login(document.dossier.prescriber)
    return client
