"""The dossier API: its list and detail scoped like the pages, creation, transitions and their refusals, and
``Idempotency-Key`` (a retried POST never acts twice)."""

from __future__ import annotations

import pytest
from django.test import Client

from prescriptions import apis
from prescriptions.models import Dossier, DossierEvent
from tests import access_matrix as m

pytestmark = [pytest.mark.django_db]


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker, tmp_path_factory):
    with m.seeded_demo(django_db_blocker, tmp_path_factory.mktemp("api-media")) as seeded:
        yield seeded


def api(demo, role: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Token {demo.tokens[role]}")


def reference(demo, target: str) -> str:
    return demo.references[demo.pk(target)]


def all_references(client: Client, url: str = "/api/v1/dossiers/") -> list[str]:
    found = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        found += [row["reference"] for row in response.json()["results"]]
        url = response.json()["next"]
    return found


def test_the_list_is_the_users_scope_page_by_page(demo, monkeypatch):
    monkeypatch.setattr(apis, "API_PAGE_SIZE", 3)
    mine = set(
        Dossier.objects.filter(prescriber__username="prescriber").values_list("reference", flat=True)
    ) | set(Dossier.objects.filter(entered_by__username="prescriber").values_list("reference", flat=True))
    listed = all_references(api(demo, "prescriber"))
    assert len(listed) == len(set(listed)), "a cursor page repeated a dossier"
    assert set(listed) == mine
    assert reference(demo, "lyon.draft") not in listed
    # National coordination sees aggregates only: no dossier.
    assert all_references(api(demo, "national")) == []


def test_the_list_filters_by_status_pre_indication_laboratory_and_search(demo):
    client = api(demo, "prescriber")
    drafts = client.get("/api/v1/dossiers/", {"status": "draft"}).json()["results"]
    assert drafts and {row["status"] for row in drafts} == {"draft"}
    refused = client.get("/api/v1/dossiers/", {"status": "nonsense"})
    assert refused.status_code == 400
    assert "Statut inconnu" in refused.json()["detail"]
    target = reference(demo, "paris.samples_shipped")
    found = client.get("/api/v1/dossiers/", {"q": target}).json()["results"]
    assert [row["reference"] for row in found] == [target]
    dossier = Dossier.objects.select_related("laboratory", "pre_indication_version__pre_indication").get(
        reference=target
    )
    by_lab = client.get("/api/v1/dossiers/", {"laboratory": dossier.laboratory.code}).json()["results"]
    assert target in {row["reference"] for row in by_lab}
    assert {row["laboratory"] for row in by_lab} == {dossier.laboratory.code}
    slug = dossier.pre_indication_version.pre_indication.slug
    by_pre_indication = client.get("/api/v1/dossiers/", {"pre_indication": slug}).json()["results"]
    assert {row["pre_indication"] for row in by_pre_indication} == {slug}


def test_the_detail_is_scoped_and_hides_withdrawn_identities_from_the_laboratory(demo):
    own = api(demo, "prescriber").get(f"/api/v1/dossiers/{reference(demo, 'paris.withdrawn')}/")
    assert own.status_code == 200
    assert own.json()["persons"], "the prescriber identifies the persons of their dossier"
    assert (
        api(demo, "prescriber2").get(f"/api/v1/dossiers/{reference(demo, 'paris.draft')}/").status_code == 404
    )
    lab = m.LAB_MEMBER and "lab_" + demo.facts["paris.withdrawn"].lab
    seen_by_lab = api(demo, lab).get(f"/api/v1/dossiers/{reference(demo, 'paris.withdrawn')}/")
    assert seen_by_lab.status_code == 200
    assert seen_by_lab.json()["persons"] == []
    assert Client().get(f"/api/v1/dossiers/{reference(demo, 'paris.draft')}/").status_code == 401


def test_a_prescriber_and_their_assistant_create_drafts_others_may_not(demo):
    created = api(demo, "prescriber").post(
        "/api/v1/dossiers/", {"pre_indication": _slug()}, content_type="application/json"
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["status"] == "draft" and body["prescriber"] == "prescriber"
    assert Dossier.objects.filter(reference=body["reference"], status="draft").exists()
    for_prescriber = api(demo, "assistant").post(
        "/api/v1/dossiers/",
        {"pre_indication": _slug(), "prescriber": "prescriber"},
        content_type="application/json",
    )
    assert for_prescriber.status_code == 201, for_prescriber.content
    assert for_prescriber.json()["entered_by"] == "assistant"
    before = Dossier.objects.count()
    not_theirs = api(demo, "assistant").post(
        "/api/v1/dossiers/",
        {"pre_indication": _slug(), "prescriber": "prescriber2"},
        content_type="application/json",
    )
    assert not_theirs.status_code == 403
    assert "prescrire pour ce prescripteur" in not_theirs.json()["detail"]
    unknown = api(demo, "prescriber").post(
        "/api/v1/dossiers/", {"pre_indication": "no-such-thing"}, content_type="application/json"
    )
    assert unknown.status_code == 400
    assert "Pré-indication inconnue" in str(unknown.json()["pre_indication"])
    assert Dossier.objects.count() == before


def test_a_transition_moves_the_dossier_or_says_why_not(demo):
    target = reference(demo, "paris.submitted")
    url = f"/api/v1/dossiers/{target}/transitions/cancel/"
    events = DossierEvent.objects.filter(dossier__reference=target).count()

    no_reason = api(demo, "prescriber").post(url, {}, content_type="application/json")
    assert no_reason.status_code == 400
    assert "motif est obligatoire" in no_reason.json()["detail"]

    not_theirs = api(demo, "coordinator").post(url, {"reason": "x"}, content_type="application/json")
    assert not_theirs.status_code == 403
    assert "Seuls le prescripteur du dossier et un administrateur" in not_theirs.json()["detail"]

    hidden = api(demo, "prescriber2").post(url, {"reason": "x"}, content_type="application/json")
    assert hidden.status_code == 404

    unknown = api(demo, "prescriber").post(
        f"/api/v1/dossiers/{target}/transitions/fly/", {}, content_type="application/json"
    )
    assert unknown.status_code == 404
    assert DossierEvent.objects.filter(dossier__reference=target).count() == events

    done = api(demo, "prescriber").post(url, {"reason": "Erreur de saisie."}, content_type="application/json")
    assert done.status_code == 200, done.content
    assert done.json()["status"] == "cancelled"
    event = DossierEvent.objects.filter(dossier__reference=target).latest("at")
    assert (event.transition, event.reason, event.actor.username) == (
        "cancel",
        "Erreur de saisie.",
        "prescriber",
    )

    again = api(demo, "prescriber").post(url, {"reason": "Encore."}, content_type="application/json")
    assert again.status_code == 400
    assert "impossible" in again.json()["detail"]


def test_a_transition_whose_conditions_fail_names_them(demo):
    target = reference(demo, "paris.draft")
    response = api(demo, "prescriber").post(
        f"/api/v1/dossiers/{target}/transitions/submit/", {}, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["detail"]
    assert Dossier.objects.get(reference=target).status == "draft"


def test_a_retried_post_with_the_same_idempotency_key_acts_once(demo):
    client = api(demo, "prescriber")
    before = Dossier.objects.count()
    first = client.post(
        "/api/v1/dossiers/",
        {"pre_indication": _slug()},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k-1",
    )
    retry = client.post(
        "/api/v1/dossiers/",
        {"pre_indication": _slug()},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k-1",
    )
    assert first.status_code == retry.status_code == 201
    assert retry.json()["reference"] == first.json()["reference"]
    assert retry["Idempotent-Replayed"] == "true"
    assert Dossier.objects.count() == before + 1

    other_body = client.post(
        "/api/v1/dossiers/",
        {"pre_indication": _slug(), "prescriber": "prescriber"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k-1",
    )
    assert other_body.status_code == 422
    assert "déjà servi" in other_body.json()["detail"]
    # The key is the client's own: another client's same key is another request.
    other_client = api(demo, "assistant").post(
        "/api/v1/dossiers/",
        {"pre_indication": _slug(), "prescriber": "prescriber"},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k-1",
    )
    assert other_client.status_code == 201
    assert Dossier.objects.count() == before + 2
    assert (
        client.post(
            "/api/v1/dossiers/", {}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="x" * 300
        ).status_code
        == 400
    )


def _slug() -> str:
    from prescriptions.models import PreIndicationVersion

    version = next(
        v for v in PreIndicationVersion.objects.select_related("pre_indication") if v.is_prescribable
    )
    return version.pre_indication.slug


def test_a_nul_character_in_a_list_filter_is_a_400_not_a_server_error(demo):
    response = api(demo, "prescriber").get("/api/v1/dossiers/", {"pre_indication": "a\x00b"})
    assert response.status_code == 400
    assert "pre_indication" in response.json()["detail"]
