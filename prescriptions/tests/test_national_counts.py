"""The national home's aggregates come from counts refreshed by beat into the shared cache: no full count of the
dossiers on each view (a second at 2.35 million dossiers), figures at most a refresh old."""

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from prescriptions.models import Dossier
from prescriptions.selectors import NATIONAL_COUNTS_KEY
from prescriptions.tasks import refresh_national_counts
from tests import factories as f

pytestmark = pytest.mark.usefixtures("reference_data")


@pytest.fixture
def national(client):
    cache.delete(NATIONAL_COUNTS_KEY)
    user = f.UserFactory(username="national-test")
    from people.models import Role
    from people.services import grant_role

    grant_role(user=user, role=Role.NATIONAL_COORDINATION)
    client.force_login(user)
    yield client
    cache.delete(NATIONAL_COUNTS_KEY)


def _total(page: str) -> str:
    return page.split("dossiers au total")[0].rsplit(">", 1)[-1].strip()


def test_the_page_reads_the_refreshed_counts_not_the_dossiers(national, settings):
    f.dossier()
    f.dossier()
    assert refresh_national_counts() == 2
    f.dossier()  # after the count: not on the page until the next refresh
    with CaptureQueriesContext(connection) as queries:
        page = national.get(reverse("home")).content.decode()
    assert _total(page) == "2"
    assert not [q for q in queries if "prescriptions_dossier" in q["sql"]], "a count of the dossiers ran"
    assert refresh_national_counts() == 3
    page = national.get(reverse("home")).content.decode()
    assert _total(page) == "3"
    assert "Comptés le" in page


def test_a_cold_cache_is_counted_once_by_the_view(national):
    f.dossier()
    page = national.get(reverse("home")).content.decode()
    assert _total(page) == "1"
    assert cache.get(NATIONAL_COUNTS_KEY)["counts"] == {Dossier.Status.DRAFT: 1}


def test_beat_refreshes_the_counts_every_minute_by_default(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["refresh-national-counts"]
    assert entry["task"] == "prescriptions.tasks.refresh_national_counts"
    assert entry["schedule"] == settings.NATIONAL_COUNTS_REFRESH_SECONDS == 60
