"""The RCP-FMG through the API, on the seeded demo: the coordinator schedules a meeting, builds its agenda,
records attendance and decides through the dossier's transitions, recorded as the RCP sheet records them; the
refusals the pages give (whose action it is, who may see the meeting, a reason required, a dossier of another
RCP), each leaving the database as it was."""

from __future__ import annotations

import datetime as dt

import pytest
from django.apps import apps
from django.test import Client
from django.utils import timezone

from notifications.models import Notification
from people import services as people_services
from people.models import RcpBody, RcpMembership
from prescriptions.models import Dossier, DossierEvent
from prescriptions.rules import REFUSAL_MESSAGES
from rcp import apis
from rcp.demo import LYON_RCP, PARIS_RCP
from rcp.models import AgendaItem, Decision, Meeting
from tests import access_matrix as m

pytestmark = [pytest.mark.django_db]


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker, tmp_path_factory):
    with m.seeded_demo(django_db_blocker, tmp_path_factory.mktemp("rcp-api-media")) as seeded:
        yield seeded


def api(demo, role: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Token {demo.tokens[role]}")


def reference(demo, target: str) -> str:
    return demo.references[demo.pk(target)]


def rcp(name: str) -> RcpBody:
    return RcpBody.objects.get(name=name)


def schedule(demo, rcp_name: str = PARIS_RCP, **changes) -> dict:
    body = {
        "rcp": rcp(rcp_name).pk,
        "kind": "upstream",
        "date": timezone.localdate().isoformat(),
        "start_time": "14:00",
        "place": "Salle de staff",
        **changes,
    }
    response = api(demo, "coordinator").post("/api/v1/meetings/", body, content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()


def post(client: Client, url: str, body: dict | None = None):
    return client.post(url, body or {}, content_type="application/json")


@pytest.fixture
def unchanged():
    """``unchanged()`` is true while no row of the project's tables changed since the fixture was taken."""
    before = m.fingerprint()
    return lambda: m.changed_tables(before, m.fingerprint()) == []


# --- RCP bodies and queues ------------------------------------------------------------------------------------


def test_the_rcp_bodies_are_the_users_own_with_their_function_every_one_for_an_administrator(demo):
    mine = api(demo, "coordinator").get("/api/v1/rcp-bodies/").json()
    assert {r["name"] for r in mine} >= {PARIS_RCP, LYON_RCP}
    assert "RCP-FMG tierce (matrice d'accès)" not in {r["name"] for r in mine}
    assert {r["function"] for r in mine} == {"coordinator"}
    paris = next(r for r in mine if r["name"] == PARIS_RCP)
    assert (paris["city"], paris["scope"]) == (rcp(PARIS_RCP).city, rcp(PARIS_RCP).scope)

    counsellor = api(demo, "counsellor").get("/api/v1/rcp-bodies/").json()
    assert [(r["name"], r["function"]) for r in counsellor] == [(PARIS_RCP, "member")]
    assert api(demo, "prescriber").get("/api/v1/rcp-bodies/").json() == []
    everyone = api(demo, "admin").get("/api/v1/rcp-bodies/").json()
    assert len(everyone) == RcpBody.objects.count()
    assert {r["function"] for r in everyone} == {None}

    lyon = rcp(LYON_RCP).pk
    assert api(demo, "counsellor").get(f"/api/v1/rcp-bodies/{lyon}/").status_code == 404
    assert api(demo, "admin").get(f"/api/v1/rcp-bodies/{lyon}/").json()["name"] == LYON_RCP
    assert api(demo, "coordinator").get(f"/api/v1/rcp-bodies/{lyon}/").json()["function"] == "coordinator"
    assert api(demo, "coordinator").get("/api/v1/rcp-bodies/-1/").status_code == 404


def test_the_queue_is_the_rcps_waiting_dossiers_longest_wait_first_page_by_page(demo, monkeypatch):
    monkeypatch.setattr(apis, "API_PAGE_SIZE", 1)
    lyon = rcp(LYON_RCP)
    url, rows = f"/api/v1/rcp-bodies/{lyon.pk}/queue/", []
    client = api(demo, "coordinator")
    while url:
        page = client.get(url)
        assert page.status_code == 200, page.content
        rows += page.json()["results"]
        url = page.json()["next"]
    waiting = Dossier.objects.filter(rcp=lyon, status="submitted").order_by("status_since", "pk")
    assert [r["reference"] for r in rows] == [d.reference for d in waiting]
    assert len(rows) >= 3  # the demo's own and the two extras: the pages were followed
    assert rows[0]["days_waited"] >= rows[-1]["days_waited"]
    assert reference(demo, "paris.submitted") not in {r["reference"] for r in rows}
    assert not any("birth_name" in r or "index" in r for r in rows), "a queue row names no one"
    # Members only, as the RCP's home page: not a member of another RCP, nor the administrator.
    assert api(demo, "counsellor").get(f"/api/v1/rcp-bodies/{lyon.pk}/queue/").status_code == 404
    assert api(demo, "admin").get(f"/api/v1/rcp-bodies/{lyon.pk}/queue/").status_code == 404


# --- The journey: meeting, agenda, attendance, decisions -------------------------------------------------------


def test_the_coordinator_holds_a_meeting_and_decides_through_the_api_as_the_rcp_sheet_records_it(demo):
    client = api(demo, "coordinator")
    meeting = schedule(demo)
    assert (meeting["rcp_name"], meeting["kind"], meeting["agenda"]) == (PARIS_RCP, "upstream", [])
    url = f"/api/v1/meetings/{meeting['id']}/"
    target = reference(demo, "paris.submitted")

    added = post(client, f"{url}agenda/", {"dossiers": [target]})
    assert added.status_code == 200, added.content
    assert [(i["reference"], i["open"]) for i in added.json()["agenda"]] == [(target, True)]

    present = client.put(
        f"{url}attendance/", {"present": ["coordinator", "counsellor"]}, content_type="application/json"
    )
    assert present.status_code == 200, present.content
    assert {u["username"] for u in present.json()["present"]} == {"coordinator", "counsellor"}
    assert set(Meeting.objects.get(pk=meeting["id"]).present.values_list("username", flat=True)) == {
        "coordinator",
        "counsellor",
    }

    validated = post(
        client, f"/api/v1/dossiers/{target}/transitions/validate/", {"reason": "Dossier complet."}
    )
    assert validated.status_code == 200, validated.content
    assert validated.json()["status"] == "rcp_validated"
    # As the page records it (rcp/tests/test_decisions.py): one Decision on the meeting whose agenda awaited
    # the dossier, by the coordinator, linked to the transition's event.
    decision = Decision.objects.get(dossier__reference=target)
    assert decision.meeting_id == meeting["id"] and decision.kind == "validate"
    assert decision.recorded_by.username == "coordinator" and decision.reason == "Dossier complet."
    assert (decision.event.transition, decision.event.actor.username) == ("validate", "coordinator")
    assert decision.event.reason == "Dossier complet."

    shown = client.get(url).json()
    item = shown["agenda"][0]
    assert item["open"] is False and [d["kind"] for d in item["decisions"]] == ["validate"]
    decisions = client.get(f"/api/v1/dossiers/{target}/decisions/")
    assert decisions.status_code == 200
    assert [(d["kind"], d["meeting"], d["recorded_by"]) for d in decisions.json()] == [
        ("validate", meeting["id"], "coordinator")
    ]
    # The prescriber sees the sheet's decisions on their dossier; a stranger to it does not.
    assert (
        api(demo, "prescriber").get(f"/api/v1/dossiers/{target}/decisions/").json()[0]["kind"] == "validate"
    )
    assert api(demo, "prescriber2").get(f"/api/v1/dossiers/{target}/decisions/").status_code == 404

    listed = client.get("/api/v1/meetings/", {"rcp": rcp(PARIS_RCP).pk, "date_from": meeting["date"]}).json()
    assert meeting["id"] in {m_["id"] for m_ in listed["results"]}
    assert next(m_ for m_ in listed["results"] if m_["id"] == meeting["id"])["agenda_length"] == 1
    assert api(demo, "prescriber").get("/api/v1/meetings/").json()["results"] == []

    minutes = client.get(f"{url}minutes/")
    assert minutes.status_code == 200 and minutes["Content-Type"] == "application/pdf"
    assert b"".join(minutes.streaming_content).startswith(b"%PDF")
    # Audited as a download (the audit app is read through the registry: no app imports it).
    assert (
        apps.get_model("audit", "AuditEntry")
        .objects.filter(
            url_name="meeting-minutes",
            action="download",
            actor_username="coordinator",
            object_id=str(meeting["id"]),
        )
        .exists()
    )


def test_the_coordinator_asks_the_prescriber_questions_recorded_with_the_decision(demo):
    dossier = Dossier.objects.filter(rcp=rcp(LYON_RCP), status="submitted").order_by("pk").last()
    response = post(
        api(demo, "coordinator"),
        f"/api/v1/dossiers/{dossier.reference}/transitions/request_more_info/",
        {"reason": "Quel est l'âge de début des troubles ?"},
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "more_info_requested"
    decision = Decision.objects.get(dossier=dossier)
    assert (decision.kind, decision.reason, decision.meeting) == (
        "request_more_info",
        "Quel est l'âge de début des troubles ?",
        None,  # on no meeting's agenda: none, as from the sheet
    )
    assert decision.event.reason == decision.reason
    told = Notification.objects.filter(dossier=dossier, event__transition="request_more_info")
    assert set(told.values_list("recipient__username", flat=True)) == {dossier.prescriber.username}


def test_a_meeting_given_with_the_decision_must_be_one_of_the_dossiers_rcp(demo, unchanged):
    other = schedule(demo, PARIS_RCP)
    dossier = Dossier.objects.filter(rcp=rcp(LYON_RCP), status="submitted").order_by("pk").first()
    response = post(
        api(demo, "coordinator"),
        f"/api/v1/dossiers/{dossier.reference}/transitions/validate/",
        {"meeting": other["id"]},
    )
    assert response.status_code == 400
    assert "autre RCP-FMG" in str(response.json()["meeting"])
    assert Dossier.objects.get(pk=dossier.pk).status == "submitted"


# --- Refusals -----------------------------------------------------------------------------------------------------


def test_the_prescriber_of_the_dossier_may_not_decide_even_as_a_coordinator_of_its_rcp(demo):
    target = Dossier.objects.get(reference=reference(demo, "paris.submitted"))
    people_services.add_to_rcp(
        user=target.prescriber, rcp=target.rcp, function=RcpMembership.Function.COORDINATOR
    )
    before = m.fingerprint()
    for name in ("validate", "reject"):
        response = post(
            api(demo, "prescriber"),
            f"/api/v1/dossiers/{target.reference}/transitions/{name}/",
            {"reason": "Mon propre dossier."},
        )
        assert response.status_code == 403, response.content
        assert response.json()["detail"] == str(REFUSAL_MESSAGES[name])
        assert "ni le prescripteur" in response.json()["detail"]
    assert m.changed_tables(before, m.fingerprint()) == []


def test_a_decision_without_its_required_reason_is_refused(demo, unchanged):
    dossier = Dossier.objects.filter(rcp=rcp(LYON_RCP), status="submitted").order_by("pk").first()
    client = api(demo, "coordinator")
    rejected = post(client, f"/api/v1/dossiers/{dossier.reference}/transitions/reject/", {"reason": "  "})
    assert rejected.status_code == 400
    assert "Un avis défavorable doit être motivé" in rejected.json()["detail"]
    asked = post(client, f"/api/v1/dossiers/{dossier.reference}/transitions/request_more_info/")
    assert asked.status_code == 400
    assert "Indiquez les questions" in asked.json()["detail"]
    assert unchanged()


def test_a_decision_on_a_dossier_no_longer_awaiting_it_says_who_decided(demo, unchanged):
    target = reference(demo, "paris.rcp_validated")
    response = post(
        api(demo, "coordinator"), f"/api/v1/dossiers/{target}/transitions/reject/", {"reason": "Non."}
    )
    assert response.status_code == 400
    assert "n'attend plus de décision" in response.json()["detail"]
    assert unchanged()


def test_only_members_see_a_meeting_and_only_its_organisers_change_it(demo):
    meeting = schedule(demo)
    url = f"/api/v1/meetings/{meeting['id']}/"
    before = m.fingerprint()
    for role in ("prescriber", "lab_seqoia", "admin"):
        assert api(demo, role).get(url).status_code == 404, role
        assert api(demo, role).get(f"{url}minutes/").status_code == 404, role
    member = api(demo, "counsellor")
    assert member.get(url).status_code == 200
    assert member.get(url).json()["manages"] is False
    assert member.patch(url, {"place": "Ailleurs"}, content_type="application/json").status_code == 404
    assert (
        post(member, f"{url}agenda/", {"dossiers": [reference(demo, "paris.submitted")]}).status_code == 404
    )
    assert (
        member.put(f"{url}attendance/", {"present": []}, content_type="application/json").status_code == 404
    )
    created = post(member, "/api/v1/meetings/", {"rcp": rcp(PARIS_RCP).pk, "date": "2027-01-05"})
    assert created.status_code == 403
    assert "Seuls le coordinateur et les suppléants" in created.json()["detail"]
    assert m.changed_tables(before, m.fingerprint()) == []


def test_a_meeting_is_scheduled_for_an_rcp_the_user_organises_with_a_place_or_a_link(demo, unchanged):
    client = api(demo, "coordinator")
    other = RcpBody.objects.get(name="RCP-FMG tierce (matrice d'accès)")
    body = {
        "rcp": other.pk,
        "date": timezone.localdate().isoformat(),
        "start_time": "14:00",
        "place": "Salle",
    }
    refused = post(client, "/api/v1/meetings/", body)
    assert refused.status_code == 400 and "rcp" in refused.json()
    nowhere = post(client, "/api/v1/meetings/", {**body, "rcp": rcp(PARIS_RCP).pk, "place": ""})
    assert nowhere.status_code == 400
    assert "lieu de la séance ou son lien" in nowhere.json()["detail"]
    far = (timezone.localdate() + dt.timedelta(days=3 * 365)).isoformat()
    too_far = post(client, "/api/v1/meetings/", {**body, "rcp": rcp(PARIS_RCP).pk, "date": far})
    assert too_far.status_code == 400 and "date" in too_far.json()
    assert client.get("/api/v1/meetings/", {"kind": "nonsense"}).status_code == 400
    assert unchanged()


def test_a_meeting_is_moved_by_its_organisers_never_left_without_place_nor_link(demo):
    meeting = schedule(demo)
    url = f"/api/v1/meetings/{meeting['id']}/"
    client = api(demo, "coordinator")
    moved = client.patch(
        url,
        {"start_time": "09:30", "video_link": "https://visio.example.org/rcp"},
        content_type="application/json",
    )
    assert moved.status_code == 200, moved.content
    assert (moved.json()["start_time"], moved.json()["place"]) == ("09:30", "Salle de staff")
    stored = Meeting.objects.get(pk=meeting["id"])
    assert (stored.start_time, stored.video_link) == (dt.time(9, 30), "https://visio.example.org/rcp")
    before = m.fingerprint()
    emptied = client.patch(url, {"place": "", "video_link": ""}, content_type="application/json")
    assert emptied.status_code == 400
    assert "lieu de la séance ou son lien" in emptied.json()["detail"]
    assert m.changed_tables(before, m.fingerprint()) == []


def test_the_agenda_refuses_a_dossier_of_another_rcp_with_the_services_message(demo):
    meeting = schedule(demo)
    url = f"/api/v1/meetings/{meeting['id']}/agenda/"
    client = api(demo, "coordinator")
    before = m.fingerprint()
    elsewhere = reference(demo, "lyon.submitted")
    refused = post(client, url, {"dossiers": [reference(demo, "paris.submitted"), elsewhere]})
    assert refused.status_code == 400
    assert refused.json()["detail"] == f"Le dossier {elsewhere} n'est pas adressé à cette RCP-FMG."
    out_of_scope = reference(demo, "other.submitted")
    unknown = post(client, url, {"dossiers": [out_of_scope]})
    assert unknown.status_code == 400
    assert out_of_scope in unknown.json()["detail"] and "hors de votre périmètre" in unknown.json()["detail"]
    not_waiting = post(client, url, {"dossiers": [reference(demo, "paris.draft")]})
    assert not_waiting.status_code == 400
    assert post(client, url, {"dossiers": []}).status_code == 400
    assert m.changed_tables(before, m.fingerprint()) == []
    assert not AgendaItem.objects.filter(meeting_id=meeting["id"]).exists()


def test_attendance_is_of_the_rcps_members_only(demo):
    meeting = schedule(demo)
    url = f"/api/v1/meetings/{meeting['id']}/attendance/"
    before = m.fingerprint()
    refused = api(demo, "coordinator").put(
        url, {"present": ["coordinator", "lab_seqoia"]}, content_type="application/json"
    )
    assert refused.status_code == 400
    assert refused.json()["detail"] == "lab_seqoia n'est pas membre de cette RCP-FMG."
    assert m.changed_tables(before, m.fingerprint()) == []


def test_a_dossier_leaves_the_agenda_until_the_meeting_decides_on_it(demo):
    meeting = schedule(demo)
    url = f"/api/v1/meetings/{meeting['id']}/agenda/"
    client = api(demo, "coordinator")
    target = reference(demo, "paris.submitted")
    assert post(client, url, {"dossiers": [target]}).status_code == 200
    assert client.delete(f"{url}{target}/").status_code == 204
    assert not AgendaItem.objects.filter(meeting_id=meeting["id"]).exists()
    assert client.delete(f"{url}{target}/").status_code == 404

    assert post(client, url, {"dossiers": [target]}).status_code == 200
    postponed = Dossier.objects.get(reference=target)
    from rcp import services

    services.record_decision(
        dossier=postponed,
        kind="postpone",
        actor=demo.users["coordinator"],
        meeting=Meeting.objects.get(pk=meeting["id"]),
    )
    before = m.fingerprint()
    kept = client.delete(f"{url}{target}/")
    assert kept.status_code == 400
    assert "Une décision est enregistrée pour ce dossier" in kept.json()["detail"]
    assert m.changed_tables(before, m.fingerprint()) == []
    assert DossierEvent.objects.filter(dossier=postponed, transition="validate").count() == 0


# --- The RCP sheet: entries and the RCP d'aval's conclusion -------------------------------------------------------


def test_the_rcps_members_annotate_the_sheet_the_prescriber_reads_it(demo):
    target = reference(demo, "paris.submitted")
    url = f"/api/v1/dossiers/{target}/sheet-entries/"
    added = post(
        api(demo, "counsellor"), url, {"kind": "addition", "field": "phenotypes", "text": "Hypotonie."}
    )
    assert added.status_code == 201, added.content
    assert (added.json()["author"], added.json()["kind"]) == ("counsellor", "addition")
    read = api(demo, "prescriber").get(url)
    assert read.status_code == 200
    assert [(e["field"], e["text"]) for e in read.json() if e["kind"] == "addition"] == [
        ("phenotypes", "Hypotonie.")
    ]
    before = m.fingerprint()
    refused = post(api(demo, "prescriber"), url, {"kind": "addition", "field": "other", "text": "Moi aussi."})
    assert refused.status_code == 403
    assert "Seuls les membres de la RCP-FMG du dossier" in refused.json()["detail"]
    assert (
        post(api(demo, "prescriber2"), url, {"kind": "addition", "field": "other", "text": "x"}).status_code
        == 404
    )
    assert api(demo, "prescriber2").get(url).status_code == 404
    bad = post(api(demo, "counsellor"), url, {"kind": "preparation", "field": "other", "text": "x"})
    assert bad.status_code == 400 and "kind" in bad.json()
    assert m.changed_tables(before, m.fingerprint()) == []


def test_the_rcp_d_aval_concludes_on_a_delivered_report_once(demo):
    target = Dossier.objects.get(reference=reference(demo, "lyon.report_delivered"))
    url = f"/api/v1/dossiers/{target.reference}/conclusion/"
    body = {"interpretation": "Variant retenu.", "care_recommendations": "Suivi annuel."}
    before = m.fingerprint()
    not_theirs = post(api(demo, target.prescriber.username), url, body)
    assert not_theirs.status_code == 403
    assert "Seuls le coordinateur et les suppléants" in not_theirs.json()["detail"]
    assert post(api(demo, "coordinator"), url, {"interpretation": " "}).status_code == 400
    assert m.changed_tables(before, m.fingerprint()) == []

    done = post(api(demo, "coordinator"), url, body)
    assert done.status_code == 201, done.content
    assert (done.json()["interpretation"], done.json()["recorded_by"]) == ("Variant retenu.", "coordinator")
    conclusion = target.__class__.objects.get(pk=target.pk).rcp_conclusion
    assert (conclusion.care_recommendations, conclusion.recorded_by.username) == (
        "Suivi annuel.",
        "coordinator",
    )
    again = post(api(demo, "coordinator"), url, body)
    assert again.status_code == 400
    assert "déjà enregistrée" in again.json()["detail"]
    waiting = post(
        api(demo, "coordinator"), f"/api/v1/dossiers/{reference(demo, 'paris.submitted')}/conclusion/", body
    )
    assert waiting.status_code == 400
    assert "compte rendu transmis" in waiting.json()["detail"]


# --- Postponing, correcting, preparing, proposing, the dossier's minutes ------------------------------------------


def test_the_coordinator_postpones_a_dossier_at_its_meeting_as_the_decision_screen_records_it(
    demo, unchanged
):
    client = api(demo, "coordinator")
    meeting = schedule(demo)
    target = reference(demo, "paris.submitted")
    assert (
        post(client, f"/api/v1/meetings/{meeting['id']}/agenda/", {"dossiers": [target]}).status_code == 200
    )
    url = f"/api/v1/dossiers/{target}/decisions/"
    events = DossierEvent.objects.filter(dossier__reference=target).count()

    postponed = post(client, url, {"kind": "postpone", "reason": "IRM attendue."})
    assert postponed.status_code == 201, postponed.content
    shown = postponed.json()
    assert (shown["kind"], shown["meeting"], shown["recorded_by"]) == (
        "postpone",
        meeting["id"],
        "coordinator",
    )
    # Not a transition: the dossier still awaits the RCP-FMG, no event on its timeline; the meeting's agenda
    # shows the decision (as the page records it: rcp/tests/test_decisions.py).
    decision = Decision.objects.get(dossier__reference=target)
    assert (decision.kind, decision.reason, decision.meeting_id, decision.event) == (
        "postpone",
        "IRM attendue.",
        meeting["id"],
        None,
    )
    assert Dossier.objects.get(reference=target).status == "submitted"
    assert DossierEvent.objects.filter(dossier__reference=target).count() == events
    item = client.get(f"/api/v1/meetings/{meeting['id']}/").json()["agenda"][0]
    assert [d["kind"] for d in item["decisions"]] == ["postpone"] and item["open"] is False


def test_a_postponement_is_refused_as_the_decision_screen_refuses_it(demo, unchanged):
    target = reference(demo, "paris.submitted")
    url = f"/api/v1/dossiers/{target}/decisions/"
    body = {"kind": "postpone", "reason": "IRM attendue."}
    not_theirs = post(api(demo, "prescriber"), url, body)  # the dossier's prescriber, never its decider
    assert not_theirs.status_code == 403
    assert not_theirs.json()["detail"] == str(REFUSAL_MESSAGES["validate"])
    assert post(api(demo, "prescriber2"), url, body).status_code == 404
    transition = post(api(demo, "coordinator"), url, {"kind": "validate"})
    assert transition.status_code == 400 and "kind" in transition.json()
    elsewhere = post(api(demo, "coordinator"), url, {**body, "meeting": demo.pk("meeting.lyon")})
    assert elsewhere.status_code == 400 and "meeting" in elsewhere.json()
    decided = reference(demo, "paris.finalised")
    late = post(api(demo, "coordinator"), f"/api/v1/dossiers/{decided}/decisions/", body)
    assert late.status_code == 400 and "n'attend plus de décision" in late.json()["detail"]
    assert unchanged()


def test_a_decision_is_corrected_beside_it_by_the_rcps_organisers_only(demo):
    target = reference(demo, "paris.finalised")
    decision = Decision.objects.filter(dossier__reference=target).order_by("pk").first()
    url = f"/api/v1/dossiers/{target}/decisions/{decision.pk}/corrections/"
    body = {"text": "Variant de classe 4.", "reason": "Erreur de saisie."}
    before = m.fingerprint()
    assert post(api(demo, "counsellor"), url, body).status_code == 403  # a member, not an organiser
    assert post(api(demo, "prescriber2"), url, body).status_code == 404
    unreasoned = post(api(demo, "coordinator"), url, {"text": "Variant.", "reason": " "})
    assert unreasoned.status_code == 400 and "reason" in unreasoned.json()
    foreign = Decision.objects.exclude(dossier__reference=target).order_by("pk").first()
    assert (
        post(api(demo, "coordinator"), url.replace(str(decision.pk), str(foreign.pk)), body).status_code
        == 404
    )
    assert m.changed_tables(before, m.fingerprint()) == []

    corrected = post(api(demo, "coordinator"), url, body)
    assert corrected.status_code == 201, corrected.content
    assert (corrected.json()["text"], corrected.json()["recorded_by"]) == (
        "Variant de classe 4.",
        "coordinator",
    )
    kept = Decision.objects.get(pk=decision.pk)
    assert (kept.kind, kept.reason) == (decision.kind, decision.reason)
    listed = api(demo, "prescriber").get(f"/api/v1/dossiers/{target}/decisions/").json()
    assert [
        (c["text"], c["reason"]) for c in next(d for d in listed if d["id"] == decision.pk)["corrections"]
    ][-1:] == [("Variant de classe 4.", "Erreur de saisie.")]


def test_the_prescribing_side_prepares_the_sheet_until_the_rcp_decides(demo):
    target = reference(demo, "paris.submitted")
    url = f"/api/v1/dossiers/{target}/sheet-entries/preparation/"
    before = m.fingerprint()
    not_theirs = post(api(demo, "coordinator"), url, {"note": "Prête."})
    assert not_theirs.status_code == 403
    assert "Seuls le prescripteur du dossier" in not_theirs.json()["detail"]
    assert post(api(demo, "prescriber2"), url, {"note": "Prête."}).status_code == 404
    assert post(api(demo, "prescriber"), url, {"note": ""}).status_code == 400
    decided = reference(demo, "paris.finalised")
    late = post(
        api(demo, "prescriber"), f"/api/v1/dossiers/{decided}/sheet-entries/preparation/", {"note": "x"}
    )
    assert late.status_code == 400 and "plus modifiable" in late.json()["detail"]
    assert m.changed_tables(before, m.fingerprint()) == []

    prepared = post(api(demo, "assistant"), url, {"note": "Arbre généalogique joint.", "ready": True})
    assert prepared.status_code == 201, prepared.content
    assert (prepared.json()["kind"], prepared.json()["ready"], prepared.json()["author"]) == (
        "preparation",
        True,
        "assistant",
    )
    entries = api(demo, "coordinator").get(f"/api/v1/dossiers/{target}/sheet-entries/").json()
    assert ("preparation", "Arbre généalogique joint.", True) in {
        (e["kind"], e["text"], e["ready"]) for e in entries
    }


def test_the_organisers_have_the_agenda_proposed_longest_wait_first(demo):
    meeting = schedule(demo)
    url = f"/api/v1/meetings/{meeting['id']}/agenda/propose/"
    before = m.fingerprint()
    assert post(api(demo, "counsellor"), url).status_code == 404  # a member, not an organiser
    assert post(api(demo, "prescriber"), url).status_code == 404
    assert m.changed_tables(before, m.fingerprint()) == []

    proposed = post(api(demo, "coordinator"), url)
    assert proposed.status_code == 200, proposed.content
    agenda = [i["reference"] for i in proposed.json()["agenda"]]
    assert reference(demo, "paris.submitted") in agenda
    assert agenda == list(
        AgendaItem.objects.filter(meeting_id=meeting["id"])
        .order_by("position")
        .values_list("dossier__reference", flat=True)
    )
    assert {Dossier.objects.get(reference=r).rcp.name for r in agenda} == {PARIS_RCP}


def test_the_dossiers_rcp_minutes_are_downloaded_once_decided_and_audited(demo):
    target = reference(demo, "paris.finalised")
    url = f"/api/v1/dossiers/{target}/minutes/"
    minutes = api(demo, "prescriber").get(url)
    assert minutes.status_code == 200 and minutes["Content-Type"] == "application/pdf"
    assert b"".join(minutes.streaming_content).startswith(b"%PDF")
    assert (
        apps.get_model("audit", "AuditEntry")
        .objects.filter(url_name="dossier-minutes-list", action="download", actor_username="prescriber")
        .exists()
    )
    assert api(demo, "prescriber2").get(url).status_code == 404
    undecided = api(demo, "prescriber").get(f"/api/v1/dossiers/{reference(demo, 'paris.submitted')}/minutes/")
    assert undecided.status_code == 404 and "detail" in undecided.json()
