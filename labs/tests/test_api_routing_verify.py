"""Two laboratory pages through the API: overriding a dossier's routing (the RCP-FMG's coordination or an
administrator, with a reason; ``services.override_routing``) and verifying a signed report's PDF (the verdict
to anyone, the portal's report it is only to whoever may see it). Each refusal leaves the database as it was."""

from __future__ import annotations

import io

import pytest
from django.core.files.storage import default_storage
from django.test import Client

from labs.demo import minimal_pdf
from labs.models import Report
from prescriptions.models import Dossier, DossierEvent
from tests import access_matrix as m

pytestmark = [pytest.mark.django_db]


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker, tmp_path_factory):
    with m.seeded_demo(django_db_blocker, tmp_path_factory.mktemp("labs-api-routing-media")) as seeded:
        yield seeded


@pytest.fixture(autouse=True)
def _demo_media(demo, settings):
    settings.MEDIA_ROOT = demo.extra["media"]


def api(demo, role: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Token {demo.tokens[role]}")


def reference(demo, target: str) -> str:
    return demo.references[demo.pk(target)]


def routing(ref: str) -> tuple:
    dossier = Dossier.objects.select_related("laboratory").get(reference=ref)
    return (
        dossier.laboratory.code if dossier.laboratory else None,
        dossier.updated_at,
        DossierEvent.objects.filter(dossier=dossier).count(),
    )


def route(client: Client, ref: str, body: dict):
    return client.post(f"/api/v1/dossiers/{ref}/routing/", body, content_type="application/json")


def test_the_rcp_coordination_sends_a_validated_dossier_to_another_laboratory_with_its_reason(demo):
    ref = reference(demo, "paris.rcp_validated")
    before = routing(ref)
    assert before[0] == "seqoia"
    body = {"laboratory": "auragen", "reason": "Plateau saturé : réorientation."}

    # The prescriber sees the dossier but may not route it; another territory's prescriber does not know it.
    refused = route(api(demo, "prescriber"), ref, body)
    assert refused.status_code == 403, refused.content
    assert refused.json()["detail"] == "Vous ne pouvez pas changer l'orientation de ce dossier."
    assert route(api(demo, "prescriber2"), ref, body).status_code == 404
    # A body the routing page's form refuses: each field named.
    unknown = route(api(demo, "coordinator"), ref, {**body, "laboratory": "nowhere"})
    assert unknown.status_code == 400
    assert "Laboratoire inconnu" in unknown.json()["laboratory"][0]
    no_reason = route(api(demo, "coordinator"), ref, {"laboratory": "auragen"})
    assert no_reason.status_code == 400 and "reason" in no_reason.json()
    assert routing(ref) == before

    routed = route(api(demo, "coordinator"), ref, body)
    assert routed.status_code == 200, routed.content
    assert (routed.json()["reference"], routed.json()["laboratory"]) == (ref, "auragen")
    event = DossierEvent.objects.filter(dossier__reference=ref).latest("at", "pk")
    assert (event.kind, event.actor.username, event.reason) == (
        DossierEvent.Kind.ROUTED,
        "coordinator",
        "Plateau saturé : réorientation.",
    )


def test_routing_is_refused_to_the_laboratory_and_once_the_samples_are_shipped(demo):
    finalised = reference(demo, "paris.finalised")
    before = routing(finalised)
    refused = route(api(demo, "lab_seqoia"), finalised, {"laboratory": "auragen", "reason": "x"})
    assert refused.status_code == 403
    assert routing(finalised) == before

    shipped = reference(demo, "paris.samples_shipped")
    before = routing(shipped)
    late = route(api(demo, "admin"), shipped, {"laboratory": "auragen", "reason": "Trop tard."})
    assert late.status_code == 400, late.content
    assert "ne peut plus être orienté" in late.json()["detail"]
    assert routing(shipped) == before


def verify(client: Client, data: bytes | None, name: str = "cr.pdf"):
    body = {} if data is None else {"file": io.BytesIO(data)}
    if data is not None:
        body["file"].name = name
    return client.post("/api/v1/reports/verify/", body)


def trail_free_state() -> tuple:
    return (
        Report.objects.count(),
        DossierEvent.objects.count(),
        list(Report.objects.order_by("pk").values_list("pk", "signed_at", "signed_sha256")),
    )


def test_a_signed_report_is_verified_and_named_only_to_whoever_may_see_it(demo):
    report = demo.extra["report"]["paris.report_signed"]
    report.refresh_from_db()
    assert report.signed_file
    with default_storage.open(report.signed_file.name, "rb") as stored:
        signed = stored.read()
    before = trail_free_state()

    answer = verify(api(demo, "prescriber"), signed)
    assert answer.status_code == 200, answer.content
    assert answer["Cache-Control"] == "private, no-store"
    result = answer.json()
    assert (result["ok"], result["valid"], result["trusted"], result["signed"]) == (True, True, True, True)
    assert "CN=SeqOIA" in result["subject"]
    assert result["signer_name"] == report.signed_by.get_full_name()
    assert result["signed_at"] and result["problems"] == []
    assert result["report"] == {
        "reference": report.dossier.reference,
        "version": report.version,
        "signed_by": report.signed_by.username,
        "signed_at": result["report"]["signed_at"],
    }

    # Another laboratory's biologist: the file proves itself, the dossier is not named.
    outsider = verify(api(demo, "biologist_auragen"), signed)
    assert outsider.status_code == 200
    assert outsider.json()["ok"] is True and outsider.json()["report"] is None
    assert report.dossier.reference not in outsider.content.decode()

    tampered = bytearray(signed)
    tampered[len(signed) // 3] ^= 0x01
    broken = verify(api(demo, "prescriber"), bytes(tampered)).json()
    assert broken["ok"] is False and broken["valid"] is False and broken["report"] is None
    unsigned = verify(api(demo, "prescriber"), minimal_pdf("Compte rendu")).json()
    assert unsigned["signed"] is False
    assert unsigned["problems"] == ["Ce PDF ne porte aucune signature électronique."]
    assert trail_free_state() == before


def test_the_verification_refuses_what_the_page_refuses(demo):
    before = trail_free_state()
    missing = verify(api(demo, "prescriber"), None)
    assert missing.status_code == 400 and "file" in missing.json()
    empty = verify(api(demo, "prescriber"), b"")
    assert empty.status_code == 400
    assert empty.json()["file"]
    assert verify(Client(), minimal_pdf("x")).status_code == 401
    assert trail_free_state() == before
