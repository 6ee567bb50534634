"""A withdrawn dossier's identities never reach its laboratory, whatever the page or file: the one rule
(prescriptions.rules.identities_hidden) is asked by every view that shows the persons."""

import pytest
from django.urls import reverse

from pfmg.demo import DEMO_PASSWORD, seed_demo
from prescriptions.models import Dossier

pytestmark = pytest.mark.usefixtures("reference_data")

LABORATORY_ACCOUNTS = ("lab_auragen", "lab_seqoia", "biologist_auragen", "biologist_seqoia")


def test_no_laboratory_account_downloads_the_rcp_minutes_or_sheet_of_a_withdrawn_dossier(client, db):
    seed_demo()
    withdrawn = list(
        Dossier.objects.filter(status=Dossier.Status.WITHDRAWN, rcp_decisions__isnull=False)
        .select_related("laboratory")
        .distinct()
    )
    assert withdrawn
    for username in LABORATORY_ACCOUNTS:
        assert client.login(username=username, password=DEMO_PASSWORD)
        for dossier in withdrawn:
            for name in ("rcp:dossier_minutes", "rcp:dossier", "prescription_summary_pdf"):
                response = client.get(reverse(name, args=[dossier.pk]))
                assert response.status_code == 404, (username, dossier.reference, name)
    # Those who care for the dossier still have its minutes.
    dossier = withdrawn[0]
    client.force_login(dossier.prescriber)
    response = client.get(reverse("rcp:dossier_minutes", args=[dossier.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"


def test_a_member_of_the_rcp_who_works_at_the_laboratory_does_not_identify_a_withdrawn_dossier_on_the_agenda(
    client, db
):
    """One person may sit in an RCP-FMG and work at a laboratory: the meeting page and its minutes (one file
    for every member) must not show them the persons of a withdrawn dossier of their laboratory."""
    from people.models import LaboratoryMembership, RcpMembership, User
    from rcp.models import AgendaItem

    seed_demo()
    item = (
        AgendaItem.objects.filter(dossier__status=Dossier.Status.WITHDRAWN, dossier__laboratory__isnull=False)
        .select_related("meeting", "dossier__laboratory")
        .first()
    )
    assert item is not None, "the demo puts a withdrawn dossier on a past meeting's agenda"
    member = User.objects.get(
        username="lab_seqoia" if item.dossier.laboratory.code == "seqoia" else "lab_auragen"
    )
    assert LaboratoryMembership.objects.filter(user=member, laboratory=item.dossier.laboratory).exists()
    RcpMembership.objects.create(user=member, rcp=item.meeting.rcp, function=RcpMembership.Function.MEMBER)
    index = item.dossier.persons.get(relationship="index").patient
    client.force_login(member)

    page = client.get(reverse("rcp:meeting", args=[item.meeting.pk]))
    assert page.status_code == 200 and item.dossier.reference in page.content.decode()
    assert index.birth_name not in page.content.decode()
    assert client.get(reverse("rcp:meeting_minutes", args=[item.meeting.pk])).status_code == 404
    # The RCP's coordinator still reads the sheet on that page.
    client.force_login(User.objects.get(username="coordinator"))
    assert index.birth_name in client.get(reverse("rcp:meeting", args=[item.meeting.pk])).content.decode()
