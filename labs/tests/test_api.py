"""The laboratory side of the API, driven as the programs that use it would: the prescriber's samples and
shipment, the laboratory's machine account at reception and through the pipeline, the biologist's signature
with password and TOTP, the prescriber's download that delivers the report; and each refusal, with nothing
changed after it."""

from __future__ import annotations

import io
import re
import time

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from labs import services
from labs.demo import minimal_pdf
from labs.models import Report, Sample, SequencingRun, Shipment
from people.models import ApiToken, Laboratory, User
from people.services import issue_machine_token
from pfmg.demo import DEMO_PASSWORD, demo_totp_code
from prescriptions.models import Dossier, DossierEvent
from tests import access_matrix as m

pytestmark = [pytest.mark.django_db]


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker, tmp_path_factory):
    with m.seeded_demo(django_db_blocker, tmp_path_factory.mktemp("labs-api-media")) as seeded:
        yield seeded


@pytest.fixture(autouse=True)
def _demo_media(demo, settings):
    settings.MEDIA_ROOT = demo.extra["media"]


def api(demo, role: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Token {demo.tokens[role]}")


def machine(code: str) -> Client:
    _token, clear = issue_machine_token(laboratory=Laboratory.objects.get(code=code))
    return Client(HTTP_AUTHORIZATION=f"Token {clear}")


def reference(demo, target: str) -> str:
    return demo.references[demo.pk(target)]


def post(client: Client, url: str, body: dict):
    return client.post(url, body, content_type="application/json")


def state(ref: str) -> tuple:
    """What a refusal must leave as it was: the dossier's status, its timeline, its tubes, runs and reports."""
    dossier = Dossier.objects.get(reference=ref)
    return (
        dossier.status,
        DossierEvent.objects.filter(dossier=dossier).count(),
        list(Sample.objects.filter(dossier=dossier).values_list("barcode", "check_result", "shipment_id")),
        Shipment.objects.filter(dossier=dossier).count(),
        SequencingRun.objects.filter(dossier=dossier).count(),
        list(Report.objects.filter(dossier=dossier).values_list("version", "signed_at")),
    )


def transition(ref: str, name: str) -> str:
    return f"/api/v1/dossiers/{ref}/transitions/{name}/"


def test_a_finalised_dossier_goes_from_its_samples_to_a_delivered_report_through_the_api(demo):
    ref = reference(demo, "paris.finalised")
    dossier = Dossier.objects.select_related("laboratory").get(reference=ref)
    assert dossier.laboratory.code == "seqoia"
    prescriber, lims, biologist = api(demo, "prescriber"), machine("seqoia"), api(demo, "biologist_seqoia")

    # The prescriber records a tube per person to sequence (ids from the dossier's detail), then ships them.
    persons = [
        p for p in prescriber.get(f"/api/v1/dossiers/{ref}/").json()["persons"] if p["to_be_sequenced"]
    ]
    assert persons
    sample_type = services.allowed_sample_types(dossier)[0]
    barcodes = []
    for n, person in enumerate(persons, start=1):
        body = {
            "person": person["id"],
            "sample_type": sample_type,
            "barcode": f"{ref}-API{n}",
            "collected_on": timezone.localdate().isoformat(),
            "collected_by": "IDE du service",
        }
        # Recording tubes is the prescribing side's: the laboratory's system is refused, and nothing is written.
        if n == 1:
            before = state(ref)
            refused = post(lims, f"/api/v1/dossiers/{ref}/samples/", body)
            assert refused.status_code == 403, refused.content
            assert "prescripteur" in refused.json()["detail"]
            assert state(ref) == before
        created = post(prescriber, f"/api/v1/dossiers/{ref}/samples/", body)
        assert created.status_code == 201, created.content
        assert created.json()["barcode"] == body["barcode"]
        barcodes.append(body["barcode"])
    duplicate = post(prescriber, f"/api/v1/dossiers/{ref}/samples/", {**body, "person": persons[0]["id"]})
    assert duplicate.status_code == 400
    assert "déjà enregistré" in duplicate.json()["detail"]

    shipped = post(
        prescriber,
        transition(ref, "ship_samples"),
        {
            "carrier": "Transporteur santé",
            "tracking_number": "TRK-API-1",
            "pickup_date": str(timezone.localdate()),
        },
    )
    assert shipped.status_code == 200, shipped.content
    assert shipped.json()["status"] == "samples_shipped"
    shipments = lims.get(f"/api/v1/dossiers/{ref}/shipments/").json()
    assert [(s["tracking_number"], sorted(s["samples"])) for s in shipments] == [
        ("TRK-API-1", sorted(barcodes))
    ]
    manifest = lims.get(f"/api/v1/dossiers/{ref}/shipments/{shipments[0]['id']}/manifest/")
    assert manifest.status_code == 200
    assert manifest["Content-Type"] == "application/pdf"
    assert b"".join(manifest.streaming_content).startswith(b"%PDF")

    # The laboratory's machine account: another laboratory's does not even know the dossier.
    before = state(ref)
    other = machine("auragen")
    assert other.get(f"/api/v1/dossiers/{ref}/").status_code == 404
    assert other.get(f"/api/v1/dossiers/{ref}/samples/").status_code == 404
    checks = [{"barcode": code, "conform": True} for code in barcodes]
    assert post(other, transition(ref, "receive"), {"samples": checks}).status_code == 404
    assert state(ref) == before

    # A tube left unchecked, or a "receive" with a non-conform tube, is refused with the reason.
    partial = post(lims, transition(ref, "receive"), {"samples": checks[:-1]} if len(checks) > 1 else {})
    assert partial.status_code == 400
    nonconform = [{**checks[0], "conform": False, "reason": "Tube hémolysé."}, *checks[1:]]
    wrong = post(lims, transition(ref, "receive"), {"samples": nonconform})
    assert wrong.status_code == 400
    assert "reject_samples" in wrong.json()["detail"]
    assert state(ref) == before

    received = post(lims, transition(ref, "receive"), {"samples": checks})
    assert received.status_code == 200, received.content
    assert received.json()["status"] == "received"
    assert set(Sample.objects.filter(dossier__reference=ref).values_list("check_result", flat=True)) == {
        "conform"
    }

    sequencing = post(
        lims,
        transition(ref, "start_sequencing"),
        {"run_identifier": "RUN-API-0001", "mean_coverage": "38.5", "pct_20x": "96.20"},
    )
    assert sequencing.status_code == 200, sequencing.content
    assert sequencing.json()["status"] == "sequencing"
    not_a_member = post(lims, transition(ref, "start_analysis"), {"interpreter": "biologist_auragen"})
    assert not_a_member.status_code == 400
    assert "membre du laboratoire" in not_a_member.json()["detail"]
    analysis = post(lims, transition(ref, "start_analysis"), {"interpreter": "biologist_seqoia"})
    assert analysis.status_code == 200, analysis.content
    assert analysis.json()["status"] == "analysis"

    # The machine account deposits the report; the draft is the laboratory's to see, not the prescriber's.
    pdf = minimal_pdf(f"Compte rendu {ref}")
    upload = lims.post(f"/api/v1/dossiers/{ref}/reports/", {"file": io.BytesIO(pdf)}, format="multipart")
    assert upload.status_code == 201, upload.content
    assert (upload.json()["version"], upload.json()["signed"]) == (1, False)
    assert [r["signed"] for r in lims.get(f"/api/v1/dossiers/{ref}/reports/").json()] == [False]
    assert prescriber.get(f"/api/v1/dossiers/{ref}/reports/").json() == []
    not_a_pdf = lims.post(
        f"/api/v1/dossiers/{ref}/reports/", {"file": io.BytesIO(b"plain text")}, format="multipart"
    )
    assert not_a_pdf.status_code == 400
    assert "n'est pas un PDF" in not_a_pdf.json()["detail"]

    # A machine account never signs, whatever it sends; the biologist signs with password and TOTP only.
    before = state(ref)
    lims_signs = post(lims, transition(ref, "sign_report"), {"password": "x", "otp": "123456"})
    assert lims_signs.status_code == 403
    assert "biologiste" in lims_signs.json()["detail"]
    assert post(biologist, transition(ref, "sign_report"), {}).status_code == 400
    bad_password = post(
        biologist, transition(ref, "sign_report"), {"password": "wrong", "otp": demo_totp_code()}
    )
    assert bad_password.status_code == 400
    assert bad_password.json()["detail"] == "Mot de passe ou code incorrect."
    bad_code = post(biologist, transition(ref, "sign_report"), {"password": DEMO_PASSWORD, "otp": "000000"})
    assert bad_code.status_code == 400
    assert state(ref) == before
    time.sleep(1.1)  # django-otp throttles the device for a second after a wrong code

    signed = post(
        biologist, transition(ref, "sign_report"), {"password": DEMO_PASSWORD, "otp": demo_totp_code()}
    )
    assert signed.status_code == 200, signed.content
    assert signed.json()["status"] == "report_signed"
    report = Report.objects.get(dossier__reference=ref)
    assert report.signed_by.username == "biologist_seqoia" and report.intact()

    # The prescriber now sees the signed version; their first download delivers it, as on the report page.
    listed = prescriber.get(f"/api/v1/dossiers/{ref}/reports/").json()
    assert [(r["id"], r["signed"], r["signed_by"]) for r in listed] == [(report.pk, True, "biologist_seqoia")]
    download = prescriber.get(f"/api/v1/dossiers/{ref}/reports/{report.pk}/download/")
    assert download.status_code == 200
    assert download["Content-Type"] == "application/pdf"
    assert b"".join(download.streaming_content).startswith(b"%PDF")
    delivered = Dossier.objects.get(reference=ref)
    assert delivered.status == "report_delivered"
    event = DossierEvent.objects.filter(dossier=delivered).latest("at", "pk")
    assert (event.transition, event.actor.username) == ("deliver_report", "prescriber")
    # The report of this dossier is not reachable under another dossier's reference.
    other_ref = reference(demo, "paris.report_signed")
    assert prescriber.get(f"/api/v1/dossiers/{other_ref}/reports/{report.pk}/download/").status_code == 404


def test_a_non_conform_tube_goes_back_to_the_prescriber_with_its_reason(demo):
    ref = reference(demo, "paris.samples_shipped")
    lims = machine("seqoia")
    pending = list(services.samples_to_check(Dossier.objects.get(reference=ref)))
    assert pending
    body = {
        "samples": [
            {"barcode": s.barcode, "conform": i != 0, "reason": "Tube hémolysé." if i == 0 else ""}
            for i, s in enumerate(pending)
        ]
    }
    no_reason = post(
        lims, transition(ref, "reject_samples"), {"samples": [{**body["samples"][0], "reason": ""}]}
    )
    assert no_reason.status_code == 400
    rejected = post(lims, transition(ref, "reject_samples"), body)
    assert rejected.status_code == 200, rejected.content
    assert rejected.json()["status"] == "finalised"
    event = DossierEvent.objects.filter(dossier__reference=ref).latest("at", "pk")
    assert event.transition == "reject_samples" and "Tube hémolysé." in event.reason


def test_the_queue_is_the_laboratorys_own_and_searchable(demo):
    lims = machine("seqoia")
    url = "/api/v1/laboratories/seqoia/queue/"
    page = lims.get(url)
    assert page.status_code == 200, page.content
    rows = page.json()["results"]
    assert rows and {row["laboratory"] for row in rows} == {"seqoia"}
    listed = {row["reference"] for row in rows}
    assert reference(demo, "paris.samples_shipped") in listed
    assert reference(demo, "lyon.samples_shipped") not in listed
    assert [r["status"] for r in lims.get(url, {"status": "received"}).json()["results"]] == [
        "received"
    ] * len(lims.get(url, {"status": "received"}).json()["results"])
    barcode = (
        Sample.objects.filter(dossier__reference=reference(demo, "paris.samples_shipped")).first().barcode
    )
    found = lims.get(url, {"q": barcode}).json()["results"]
    assert [row["reference"] for row in found] == [reference(demo, "paris.samples_shipped")]
    assert lims.get("/api/v1/laboratories/auragen/queue/").status_code == 404
    assert api(demo, "prescriber").get(url).status_code == 403


def test_a_machine_account_acts_for_its_laboratory_only(demo):
    lims = machine("seqoia")
    user = User.objects.get(username="machine_seqoia")
    assert user.is_machine_account and not user.has_usable_password()
    # Its laboratory's dossiers, and no other.
    assert lims.get(f"/api/v1/dossiers/{reference(demo, 'paris.finalised')}/").status_code == 200
    assert lims.get(f"/api/v1/dossiers/{reference(demo, 'lyon.finalised')}/").status_code == 404
    assert lims.get(f"/api/v1/dossiers/{reference(demo, 'paris.draft')}/").status_code == 404
    # A withdrawn dossier's reports and manifests never reach its laboratory; its prescriber still has them.
    withdrawn = reference(demo, "paris.withdrawn")
    assert lims.get(f"/api/v1/dossiers/{withdrawn}/reports/").status_code == 404
    assert api(demo, "lab_seqoia").get(f"/api/v1/dossiers/{withdrawn}/reports/").status_code == 404
    assert api(demo, "prescriber").get(f"/api/v1/dossiers/{withdrawn}/reports/").status_code == 200
    # Never a prescription, a withdrawal, a cancellation, a delivery: 403 and nothing changed.
    before = Dossier.objects.count()
    created = post(lims, "/api/v1/dossiers/", {"pre_indication": "deficience-intellectuelle"})
    assert created.status_code == 403
    assert Dossier.objects.count() == before
    ref = reference(demo, "paris.finalised")
    snapshot = state(ref)
    assert post(lims, transition(ref, "withdraw"), {"reason": "x"}).status_code == 403
    assert post(lims, transition(ref, "cancel"), {"reason": "x"}).status_code == 403
    signed = reference(demo, "paris.report_signed")
    signed_before = state(signed)
    assert post(lims, transition(signed, "deliver_report"), {"reason": "Par courrier."}).status_code == 403
    assert state(ref) == snapshot and state(signed) == signed_before
    # The staff of the same laboratory may record that delivery (a person, not the machine).
    assert (
        post(
            api(demo, "lab_seqoia"), transition(signed, "deliver_report"), {"reason": "Par courrier."}
        ).status_code
        == 200
    )


def test_a_machine_account_never_logs_in(demo):
    user = User.objects.get(username="machine_seqoia")
    login = Client().post(reverse("login"), {"username": "machine_seqoia", "password": "anything-at-all"})
    assert login.status_code == 200 and "_auth_user_id" not in login.client.session
    tokens = ApiToken.objects.filter(user=user).count()
    token = post(
        Client(), "/api/v1/auth/token/", {"username": "machine_seqoia", "password": "anything-at-all"}
    )
    assert token.status_code == 400
    assert ApiToken.objects.filter(user=user).count() == tokens
    # Not even a session opened by other means survives: the backends refuse it.
    session = Client()
    session.force_login(user, backend="people.auth.PortalModelBackend")
    assert session.get("/").status_code == 302
    assert session.get("/api/v1/dossiers/").status_code in (401, 403)
    # And no password can be given to it, whoever tries (a database constraint).
    user.set_password("a-password-for-a-machine")
    with pytest.raises(IntegrityError), transaction.atomic():
        user.save(update_fields=["password"])
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.filter(pk=user.pk).update(is_staff=True)


def test_the_command_prints_a_token_once_and_revokes_them(demo):
    out, err = io.StringIO(), io.StringIO()
    call_command("create_machine_account", laboratory="seqoia", stdout=out, stderr=err)
    clear = out.getvalue().strip()
    assert "machine_seqoia" in err.getvalue() and clear not in err.getvalue()
    client = Client(HTTP_AUTHORIZATION=f"Token {clear}")
    assert client.get("/api/v1/laboratories/seqoia/queue/").status_code == 200
    stored = ApiToken.objects.filter(user__username="machine_seqoia").latest("pk")
    assert clear not in (stored.key_hash, stored.prefix)
    call_command("create_machine_account", laboratory="seqoia", revoke=True, stdout=out, stderr=err)
    assert client.get("/api/v1/laboratories/seqoia/queue/").status_code == 401


def test_the_admin_issues_a_machine_token_shown_once_and_revokes_it(demo, settings):
    settings.SESSION_SAVE_EVERY_REQUEST = False
    admin = Client()
    admin.cookies[settings.SESSION_COOKIE_NAME] = demo.sessions["admin"]
    seqoia = Laboratory.objects.get(code="seqoia")
    changelist = reverse("admin:people_laboratory_changelist")
    issued = admin.post(
        changelist, {"action": "issue_machine_token", "_selected_action": [seqoia.pk]}, follow=True
    )
    assert issued.status_code == 200
    shown = re.search(r"machine_seqoia[^:]*: ([A-Za-z0-9_-]{40,})", issued.content.decode())
    assert shown, "the token is shown once, in the admin's message"
    client = Client(HTTP_AUTHORIZATION=f"Token {shown[1]}")
    assert client.get("/api/v1/laboratories/seqoia/queue/").status_code == 200
    revoked = admin.post(
        changelist, {"action": "revoke_machine_tokens", "_selected_action": [seqoia.pk]}, follow=True
    )
    assert revoked.status_code == 200
    assert client.get("/api/v1/laboratories/seqoia/queue/").status_code == 401
