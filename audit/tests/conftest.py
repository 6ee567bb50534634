import datetime as dt

import pytest
from django.utils import timezone

from people.models import LaboratoryMembership
from pfmg.demo import PATHS, Cast, walk
from tests import factories as f


@pytest.fixture
def cast(db, reference_data):
    rcp = f.rcp_body()
    return Cast(
        prescriber=f.prescriber(),  # Paris: SeqOIA's territory
        coordinator=f.coordinator(rcp),
        lab_staff=f.lab_member("seqoia"),
        biologist=f.lab_member("seqoia", LaboratoryMembership.Function.BIOLOGIST),
    )


@pytest.fixture
def walked(cast):
    def make(status):
        dossier = f.dossier(prescriber_user=cast.prescriber, rcp=cast.coordinator.rcp_memberships.get().rcp)
        walk(dossier, PATHS[status], cast, timezone.now() - dt.timedelta(days=30), dt.timedelta(hours=1))
        dossier.refresh_from_db()
        return dossier

    return make
