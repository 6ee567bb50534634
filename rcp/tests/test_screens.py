"""The RCP screens as their users see them: "Mes RCP", a meeting run from agenda to decisions, the RCP sheet,
the dossier page's RCP section, and who may open what (404 otherwise)."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from notifications.models import Notification
from pfmg.demo import walk
from prescriptions.models import Dossier
from rcp import services
from rcp.models import Decision, Meeting, SheetEntry
from tests import factories as f

from .conftest import submitted

pytestmark = pytest.mark.usefixtures("reference_data")
S = Dossier.Status


def as_user(client, user):
    client.force_login(user)
    return client


def test_mes_rcp_lists_the_queue_oldest_first_with_the_wait_and_its_warning(client, cast, rcp):
    rcp.wait_warning_days = 10
    rcp.save()
    old, recent = (f.dossier(prescriber_user=cast.prescriber, rcp=rcp) for _ in range(2))
    walk(old, ["submit"], cast, f.paris_noon(days_ago=20), dt.timedelta(hours=1))
    walk(recent, ["submit"], cast, f.paris_noon(days_ago=2), dt.timedelta(hours=1))
    page = as_user(client, cast.coordinator).get(reverse("rcp:home")).content.decode()
    assert "Mes RCP" in page
    assert page.index(old.reference) < page.index(recent.reference)
    assert "20 jours" in page and "au-delà de 10 jours" in page and "2 jours" in page
    assert 'href="/rcp/"' in page  # the header's workspace link


def test_mes_rcp_is_for_rcp_members_and_shows_only_their_rcp(client, cast, rcp):
    dossier = submitted(cast, rcp)
    assert as_user(client, cast.prescriber).get(reverse("rcp:home")).status_code == 404
    assert 'href="/rcp/"' not in client.get("/").content.decode()
    stranger = f.coordinator(f.rcp_body())
    page = as_user(client, stranger).get(reverse("rcp:home")).content.decode()
    assert dossier.reference not in page
    assert client.get(reverse("rcp:dossier", args=[dossier.pk])).status_code == 404


def test_a_member_sees_the_meeting_but_neither_manages_it_nor_decides(client, cast, rcp, member, meeting):
    dossier = submitted(cast, rcp)
    services.add_to_agenda(meeting=meeting, dossiers=[dossier], actor=cast.coordinator)
    as_user(client, member)
    page = client.get(reverse("rcp:meeting", args=[meeting.pk])).content.decode()
    assert dossier.reference in page and "Enregistrer la décision" not in page
    assert client.post(reverse("rcp:agenda_propose", args=[meeting.pk])).status_code == 404
    assert client.get(reverse("rcp:meeting_create")).status_code == 404
    response = client.post(reverse("rcp:decide", args=[dossier.pk]), {"kind": "validate"})
    assert response.status_code == 400 and "coordinateur ou le suppléant" in response.content.decode()
    assert Dossier.objects.get(pk=dossier.pk).status == S.SUBMITTED
    stranger = f.coordinator(f.rcp_body())
    assert as_user(client, stranger).get(reverse("rcp:meeting", args=[meeting.pk])).status_code == 404
    assert client.get(reverse("rcp:meeting_minutes", args=[meeting.pk])).status_code == 404


def test_the_coordinator_runs_a_meeting_from_agenda_to_decisions(client, cast, rcp, deputy):
    first, second, third = (submitted(cast, rcp) for _ in range(3))
    as_user(client, cast.coordinator)
    refused = client.post(
        reverse("rcp:meeting_create"),
        {"rcp": rcp.pk, "kind": "upstream", "date": "2030-01-08", "start_time": "14:00"},
    )
    assert "Indiquez le lieu de la séance ou son lien" in refused.content.decode()
    response = client.post(
        reverse("rcp:meeting_create"),
        {
            "rcp": rcp.pk,
            "kind": "upstream",
            "date": timezone.localdate().isoformat(),
            "start_time": "14:00",
            "video_link": "https://visio.example.org/rcp",
        },
    )
    meeting = Meeting.objects.get()
    assert response["Location"] == reverse("rcp:meeting", args=[meeting.pk])
    client.post(reverse("rcp:agenda_propose", args=[meeting.pk]), follow=True)
    assert [i.dossier for i in meeting.items.all()] == [first, second, third]
    client.post(reverse("rcp:attendance", args=[meeting.pk]), {"present": [cast.coordinator.pk, deputy.pk]})
    assert set(meeting.present.all()) == {cast.coordinator, deputy}
    page = client.get(reverse("rcp:meeting", args=[meeting.pk])).content.decode()
    assert page.count("Enregistrer la décision") == 3 and "Fiche RCP" in page

    decide = reverse("rcp:decide", args=[first.pk])
    back = reverse("rcp:meeting", args=[meeting.pk]) + f"#item-{first.pk}"
    prefix = f"d{first.pk}"
    ok = client.post(
        decide, {"meeting": meeting.pk, "prefix": prefix, f"{prefix}-kind": "validate", "next": back}
    )
    assert ok.status_code == 302 and ok["Location"] == back
    prefix = f"d{second.pk}"
    missing = client.post(
        reverse("rcp:decide", args=[second.pk]),
        {"meeting": meeting.pk, "prefix": prefix, f"{prefix}-kind": "reject"},
    )
    assert missing.status_code == 400
    assert "Un avis défavorable doit être motivé" in missing.content.decode()
    assert Dossier.objects.get(pk=second.pk).status == S.SUBMITTED
    client.post(
        reverse("rcp:decide", args=[second.pk]),
        {
            "meeting": meeting.pk,
            "prefix": prefix,
            f"{prefix}-kind": "reject",
            f"{prefix}-reason": "Hors fiche",
        },
    )
    prefix = f"d{third.pk}"
    client.post(
        reverse("rcp:decide", args=[third.pk]),
        {
            "meeting": meeting.pk,
            "prefix": prefix,
            f"{prefix}-kind": "request_more_info",
            f"{prefix}-reason": "ACPA ?",
        },
    )
    statuses = dict(Dossier.objects.filter(rcp=rcp).values_list("pk", "status"))
    assert statuses == {first.pk: S.RCP_VALIDATED, second.pk: S.RCP_REJECTED, third.pk: S.MORE_INFO_REQUESTED}
    assert {d.kind: d.meeting_id for d in Decision.objects.all()} == {
        "validate": meeting.pk,
        "reject": meeting.pk,
        "request_more_info": meeting.pk,
    }
    told = set(
        Notification.objects.filter(recipient=cast.prescriber).values_list("event__transition", flat=True)
    )
    assert {"reject", "request_more_info"} <= told
    page = client.get(reverse("rcp:meeting", args=[meeting.pk])).content.decode()
    assert "Enregistrer la décision" not in page and "Hors fiche" in page
    # A second decision on a decided dossier (a stale page): refused, said plainly.
    again = client.post(reverse("rcp:decide", args=[first.pk]), {"kind": "reject", "reason": "x"})
    assert again.status_code == 400 and "n&#x27;attend plus de décision" in again.content.decode()


def test_the_meeting_page_costs_the_same_queries_whatever_the_agenda(client, cast, rcp, meeting):
    as_user(client, cast.coordinator)
    services.add_to_agenda(meeting=meeting, dossiers=[submitted(cast, rcp)], actor=cast.coordinator)
    url = reverse("rcp:meeting", args=[meeting.pk])

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    small = count()
    services.add_to_agenda(
        meeting=meeting, dossiers=[submitted(cast, rcp) for _ in range(3)], actor=cast.coordinator
    )
    assert count() == small


def test_reviewers_record_corrections_beside_the_dossier_which_is_not_overwritten(client, cast, rcp, member):
    dossier = submitted(cast, rcp)
    summary = dossier.clinical_summary
    as_user(client, member)
    sheet = client.get(reverse("rcp:dossier", args=[dossier.pk])).content.decode()
    assert "Le dossier tel que prescrit" in sheet and summary in sheet and "HP:0001249" in sheet
    empty = client.post(
        reverse("rcp:sheet_entry", args=[dossier.pk]), {"kind": "correction", "field": "family"}
    )
    assert empty.status_code == 400 and "Ce champ est obligatoire" in empty.content.decode()
    client.post(
        reverse("rcp:sheet_entry", args=[dossier.pk]),
        {"kind": "correction", "field": "clinical_summary", "text": "Début des crises à 8 mois, pas 12."},
    )
    entry = SheetEntry.objects.get()
    assert (entry.author, entry.field, entry.kind) == (member, "clinical_summary", "correction")
    assert Dossier.objects.get(pk=dossier.pk).clinical_summary == summary
    page = client.get(reverse("rcp:dossier", args=[dossier.pk])).content.decode()
    assert "Début des crises à 8 mois" in page and str(member) in page


def test_the_assistant_prepares_the_sheet_but_neither_reviews_nor_decides(client, cast, rcp):
    assistant = f.assistant_for(cast.prescriber)
    dossier = submitted(cast, rcp)
    as_user(client, assistant)
    page = client.get(reverse("rcp:dossier", args=[dossier.pk])).content.decode()
    assert "Préparer la fiche pour la séance" in page and "Enregistrer la décision" not in page
    client.post(
        reverse("rcp:prepare", args=[dossier.pk]), {"note": "Arbre généalogique joint.", "ready": "on"}
    )
    entry = SheetEntry.objects.get()
    assert (entry.kind, entry.ready, entry.author) == ("preparation", True, assistant)
    refused = client.post(
        reverse("rcp:sheet_entry", args=[dossier.pk]), {"kind": "addition", "field": "other", "text": "x"}
    )
    assert "Seuls les membres de la RCP-FMG du dossier" in refused.content.decode()


def test_the_dossier_page_links_decisions_to_the_rcp_screen_and_shows_them(client, cast, rcp):
    dossier = submitted(cast, rcp)
    as_user(client, cast.coordinator)
    page = client.get(reverse("dossier_detail", args=[dossier.pk])).content.decode()
    assert reverse("rcp:dossier", args=[dossier.pk]) + "#decision" in page  # not a bare "Valider" button
    services.record_decision(dossier=dossier, kind="reject", actor=cast.coordinator, reason="Bilan incomplet")
    as_user(client, cast.prescriber)
    page = client.get(reverse("dossier_detail", args=[dossier.pk])).content.decode()
    assert "Avis défavorable" in page and "Bilan incomplet" in page
    assert reverse("rcp:dossier_minutes", args=[dossier.pk]) in page


def test_the_rcp_d_aval_conclusion_is_recorded_from_its_meeting_then_the_dossier_closes(client, cast, rcp):
    from pfmg.demo import PATHS

    dossier = f.dossier(prescriber_user=cast.prescriber, rcp=rcp)
    walk(
        dossier, PATHS[S.REPORT_DELIVERED], cast, timezone.now() - dt.timedelta(days=30), dt.timedelta(days=1)
    )
    as_user(client, cast.coordinator)
    assert dossier.reference in client.get(reverse("rcp:home")).content.decode()
    client.post(
        reverse("rcp:meeting_create"),
        {
            "rcp": rcp.pk,
            "kind": "downstream",
            "date": timezone.localdate().isoformat(),
            "start_time": "09:00",
            "place": "Salle 2",
        },
    )
    meeting = Meeting.objects.get(kind="downstream")
    client.post(reverse("rcp:agenda_propose", args=[meeting.pk]))
    prefix = f"d{dossier.pk}"
    client.post(
        reverse("rcp:conclusion", args=[dossier.pk]),
        {
            "meeting": meeting.pk,
            "prefix": prefix,
            f"{prefix}-interpretation": "Variant pathogène retenu",
            f"{prefix}-care_recommendations": "Suivi cardiologique",
            f"{prefix}-family_recommendations": "Conseil génétique des apparentés",
        },
    )
    assert dossier.rcp_conclusion.meeting == meeting
    as_user(client, cast.prescriber)
    client.post(reverse("dossier_transition", args=[dossier.pk, "close"]))
    assert Dossier.objects.get(pk=dossier.pk).status == S.CLOSED
