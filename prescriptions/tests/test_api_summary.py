"""The prescription summary (PDF) through the API: as the dossier's page serves it, to whoever may see a
submitted dossier, recorded in the trail as a download; 404 for a draft, outside the scope, and to the
laboratory of a withdrawn dossier."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.test import Client

from tests import access_matrix as m

pytestmark = [pytest.mark.django_db]


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker, tmp_path_factory):
    with m.seeded_demo(django_db_blocker, tmp_path_factory.mktemp("summary-api-media")) as seeded:
        yield seeded


@pytest.fixture(autouse=True)
def _demo_media(demo, settings):
    settings.MEDIA_ROOT = demo.extra["media"]


def api(demo, role: str, **headers) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Token {demo.tokens[role]}", **headers)


def summary(demo, target: str) -> str:
    return f"/api/v1/dossiers/{demo.references[demo.pk(target)]}/summary/"


def test_the_summary_of_a_submitted_dossier_is_a_recorded_download(demo, django_assert_max_num_queries):
    url = summary(demo, "paris.submitted")
    for role in ("prescriber", "coordinator"):
        # Within the query budget of every GET the matrix reaches (tests/test_query_counts.py), render included.
        with django_assert_max_num_queries(15):
            response = api(demo, role, HTTP_ACCEPT="application/pdf").get(url)
        assert response.status_code == 200, response.content
        assert response["Content-Type"] == "application/pdf"
        assert response["Cache-Control"] == "private, no-store"
        ref = demo.references[demo.pk("paris.submitted")]
        assert f'filename="{ref}-bon-de-prescription.pdf"' in response["Content-Disposition"]
        assert b"".join(response.streaming_content).startswith(b"%PDF")
        trail = apps.get_model("audit.AuditEntry").objects.filter(path=url, actor_username=role).latest("seq")
        assert (trail.action, trail.dossier_reference, trail.status_code) == ("download", ref, 200)


def test_the_summary_is_refused_as_on_the_page(demo):
    # A draft is not a prescription yet, even to its prescriber.
    draft = api(demo, "prescriber").get(summary(demo, "paris.draft"))
    assert draft.status_code == 404
    assert draft.json()["detail"]
    # Another territory's prescriber does not know the dossier; asked as a PDF, the refusal is JSON all the same.
    outside = api(demo, "prescriber2", HTTP_ACCEPT="application/pdf").get(summary(demo, "paris.submitted"))
    assert outside.status_code == 404 and outside["Content-Type"] == "application/json"
    # The laboratory of a withdrawn dossier never identifies its persons; its prescriber still has the summary.
    assert api(demo, "lab_seqoia").get(summary(demo, "paris.withdrawn")).status_code == 404
    assert api(demo, "prescriber").get(summary(demo, "paris.withdrawn")).status_code == 200
    assert Client().get(summary(demo, "paris.submitted")).status_code == 401
