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
