"""The RCP minutes (PDF): rendered by the Celery tasks through pfmg.pdf, stored, opening as PDFs that name the
decisions and their reasons, and downloadable only by those allowed."""

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from prescriptions.tests.test_pdf import pdf_text
from rcp import pdf, services
from rcp.tasks import render_dossier_minutes, render_meeting_minutes
from tests import factories as f

from .conftest import submitted

pytestmark = pytest.mark.usefixtures("reference_data")


@pytest.fixture
def held(cast, rcp, deputy, meeting):
    """A meeting where one dossier was validated and another rejected, with the attendance recorded."""
    validated, rejected = submitted(cast, rcp), submitted(cast, rcp)
    services.add_to_agenda(meeting=meeting, dossiers=[validated, rejected], actor=cast.coordinator)
    services.set_attendance(meeting=meeting, present=[cast.coordinator, deputy], actor=cast.coordinator)
    services.record_decision(dossier=validated, kind="validate", actor=cast.coordinator, meeting=meeting)
    services.record_decision(
        dossier=rejected,
        kind="reject",
        actor=deputy,
        meeting=meeting,
        reason="Bilan de première intention incomplet",
    )
    meeting.refresh_from_db()
    return meeting, validated, rejected


def test_the_meeting_minutes_name_the_attendees_the_dossiers_and_the_decisions(held, cast, deputy, tmp_path):
    meeting, validated, rejected = held
    path = render_meeting_minutes.apply(args=[meeting.pk]).get()
    assert path.startswith(f"renders/rcp/{meeting.reference}/meeting-minutes-") and default_storage.exists(
        path
    )
    with default_storage.open(path, "rb") as stored:
        data = stored.read()
    assert data.startswith(b"%PDF-")
    text = pdf_text(data, tmp_path)
    assert "Compte rendu de RCP" in text and meeting.rcp.name in text
    assert str(cast.coordinator) in text and str(deputy) in text
    assert validated.reference in text and rejected.reference in text
    assert "Avis favorable" in text and "Avis défavorable" in text
    assert "Bilan de première intention incomplet" in text
    assert render_meeting_minutes.apply(args=[meeting.pk]).get() == path  # same content, same file


def test_a_dossier_s_minutes_name_its_decision_and_reason(held, tmp_path):
    _meeting, _validated, rejected = held
    path = render_dossier_minutes.apply(args=[rejected.pk]).get()
    with default_storage.open(path, "rb") as stored:
        text = pdf_text(stored.read(), tmp_path)
    assert rejected.reference in text and "Avis défavorable" in text
    assert "Bilan de première intention incomplet" in text
    assert "Non retenu en RCP" in text


def test_the_minutes_are_downloaded_by_those_allowed_only(client, held, cast, member):
    meeting, validated, rejected = held
    client.force_login(member)
    response = client.get(reverse("rcp:meeting_minutes", args=[meeting.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert b"".join(response.streaming_content).startswith(b"%PDF-")
    client.force_login(cast.prescriber)  # sees their dossiers, not the meeting
    assert client.get(reverse("rcp:meeting_minutes", args=[meeting.pk])).status_code == 404
    mine = client.get(reverse("rcp:dossier_minutes", args=[rejected.pk]))
    assert mine.status_code == 200 and b"".join(mine.streaming_content).startswith(b"%PDF-")
    client.force_login(f.prescriber())
    assert client.get(reverse("rcp:dossier_minutes", args=[rejected.pk])).status_code == 404


def test_a_correction_after_the_render_gives_fresh_minutes(held, cast, tmp_path):
    meeting, _validated, rejected = held
    first = pdf.current_meeting_minutes_path(meeting)
    decision = rejected.rcp_decisions.get()
    services.correct_decision(
        decision=decision, actor=cast.coordinator, text="Motif : ACPA manquante", reason="Motif imprécis"
    )
    meeting.refresh_from_db()
    again = pdf.current_meeting_minutes_path(meeting)
    assert again != first
    with default_storage.open(again, "rb") as stored:
        text = pdf_text(stored.read(), tmp_path)
    assert "Motif : ACPA manquante" in text and "Bilan de première intention incomplet" in text
