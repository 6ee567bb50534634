import datetime as dt

import pytest
from django.utils import timezone

from people.models import LaboratoryMembership, RcpMembership
from pfmg.demo import Cast
from prescriptions.drafting import attest_and_submit
from rcp import services
from rcp.models import Meeting
from tests import factories as f


@pytest.fixture
def rcp(db, reference_data):
    return f.rcp_body()


@pytest.fixture
def cast(rcp):
    return Cast(
        prescriber=f.prescriber(),
        coordinator=f.coordinator(rcp),
        lab_staff=f.lab_member("seqoia"),
        biologist=f.lab_member("seqoia", LaboratoryMembership.Function.BIOLOGIST),
    )


@pytest.fixture
def deputy(rcp):
    return f.coordinator(rcp, function=RcpMembership.Function.DEPUTY)


@pytest.fixture
def member(rcp):
    return f.coordinator(rcp, function=RcpMembership.Function.MEMBER)


def submitted(cast, rcp, **kwargs):
    dossier = f.dossier(prescriber_user=cast.prescriber, rcp=rcp, **kwargs)
    attest_and_submit(dossier=dossier, prescriber=cast.prescriber, rcp=rcp)
    return dossier


@pytest.fixture
def meeting(cast, rcp):
    return services.create_meeting(
        rcp=rcp,
        actor=cast.coordinator,
        date=timezone.localdate(),
        start_time=dt.time(14, 0),
        place="Salle 3",
        kind=Meeting.Kind.UPSTREAM,
    )
