"""The admin at national scale: a changelist costs the same number of queries whatever the number of rows, never
counts a whole table, pages to a bound; the dossier change page runs a fixed, small number of queries and ships no
<select> of thousands of options."""

import io
import re

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.models import Action, AuditEntry
from notifications.services import notify
from pfmg.admin_base import BoundedPaginator
from prescriptions.models import Dossier, DossierEvent, DossierPerson, DossierPhenotype
from tests import factories as f

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("reference_data")]

# The changelists of the tables that grow with the dossiers, and a search each must answer through an index.
CHANGELISTS = [
    "prescriptions_dossier",
    "prescriptions_patient",
    "prescriptions_dossierperson",
    "prescriptions_dossierevent",
    "prescriptions_dossierphenotype",
    "prescriptions_dossierdocument",
    "prescriptions_priortest",
    "notifications_notification",
    "notifications_outboxemail",
    "consent_consentrecord",
    "rcp_decision",
    "audit_auditentry",
    "people_apitoken",
]
# Seeded by seed_scale (and notify): their changelists must list more rows after the second seed.
GROWING = {
    "prescriptions_dossier",
    "prescriptions_patient",
    "prescriptions_dossierperson",
    "prescriptions_dossierevent",
    "prescriptions_dossierphenotype",
    "notifications_notification",
    "audit_auditentry",
}
PAGE_MAX_QUERIES = 15
# What every request costs whatever the page (not the admin's): the session and its user, the context
# processors (unread notifications, roles), the audit trail's entry, transaction control.
INFRASTRUCTURE = re.compile(
    r'"django_session"|FROM "people_user" WHERE|"notifications_notification"|"auth_group"|audit_|'
    r'^(SAVEPOINT|RELEASE|BEGIN|COMMIT)|AS "persons__patient_id"'
)
CHANGE_PAGE_OWN_MAX_QUERIES = 8


@pytest.fixture(autouse=True)
def _demo_mode(settings):
    settings.DEMO_MODE = True  # seed_scale writes the demo accounts


@pytest.fixture
def superuser(db):
    return f.UserFactory(username="root", is_staff=True, is_superuser=True, email="")


def seed(dossiers: int, seed: int) -> None:
    call_command("seed_scale", dossiers=dossiers, seed=seed, stdout=io.StringIO())
    for dossier in Dossier.objects.filter(notifications__isnull=True).select_related("prescriber"):
        notify(
            user=dossier.prescriber,
            dossier=dossier,
            describe=lambda: "Dossier à jour.",
            at=dossier.updated_at,
        )


def changelist(client, name: str, query: str = ""):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse(f"admin:{name}_changelist") + query)
    assert response.status_code == 200, (name, response.status_code)
    return response, [q["sql"] for q in queries.captured_queries]


def test_every_big_changelist_costs_the_same_queries_for_3_and_for_30_rows(client, superuser):
    client.force_login(superuser)
    seed(3, seed=1)
    few = {name: changelist(client, name) for name in CHANGELISTS}
    seed(27, seed=2)
    for name in CHANGELISTS:
        response, queries = changelist(client, name)
        count = response.context["cl"].result_count
        assert len(queries) == len(few[name][1]), (name, queries)
        if name in GROWING:
            assert count > few[name][0].context["cl"].result_count, name
        assert len(queries) <= PAGE_MAX_QUERIES, (name, len(queries))


def test_dossier_and_timeline_changelists_stay_within_their_query_budget(
    client, superuser, django_assert_max_num_queries
):
    client.force_login(superuser)
    seed(30, seed=3)
    assert DossierEvent.objects.count() > 100  # more than a page: the page is full
    for name in ("prescriptions_dossier", "prescriptions_dossierevent", "audit_auditentry"):
        with django_assert_max_num_queries(PAGE_MAX_QUERIES):
            assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200


def _count_queries(queries: list[str], table: str) -> list[str]:
    return [q for q in queries if "COUNT(" in q.upper() and f'"{table}"' in q]


@pytest.mark.parametrize(
    ("name", "table", "query"),
    [
        ("prescriptions_dossier", "prescriptions_dossier", ""),
        ("prescriptions_dossier", "prescriptions_dossier", "?q=pfmg-"),
        ("prescriptions_patient", "prescriptions_patient", ""),
        ("prescriptions_dossierevent", "prescriptions_dossierevent", ""),
        ("prescriptions_dossierevent", "prescriptions_dossierevent", "?q=PFMG-"),
        ("audit_auditentry", "audit_auditentry", ""),
    ],
)
def test_a_big_changelist_never_counts_its_whole_table(client, superuser, monkeypatch, name, table, query):
    monkeypatch.setattr(BoundedPaginator, "limit", 10)
    client.force_login(superuser)
    seed(12, seed=4)
    for _ in range(12):  # audit entries enough to pass the limit: each view of a changelist is one
        client.get(reverse("admin:prescriptions_dossier_changelist"))
    response, queries = changelist(client, name, query)
    counts = _count_queries(queries, table)
    assert counts, queries  # it does count, boundedly:
    for sql in counts:
        assert re.search(r"LIMIT 11\b", sql), sql
    cl = response.context["cl"]
    assert cl.result_count == 10 and cl.paginator.more and cl.full_result_count is None
    assert "plus de 10" in response.content.decode()
    if name == "prescriptions_patient":  # with actions: "select all" must not say 10 when it acts on more
        assert "Sélectionner tous les résultats (plus de 10)" in response.content.decode()


def test_a_page_number_past_the_bound_shows_the_last_page_reachable(client, superuser, monkeypatch):
    monkeypatch.setattr(BoundedPaginator, "limit", 150)
    client.force_login(superuser)
    seed(30, seed=5)
    assert DossierEvent.objects.count() > 150
    response, _ = changelist(client, "prescriptions_dossierevent", "?p=999")
    cl = response.context["cl"]
    assert cl.paginator.num_pages == 2 and cl.page_num == 2
    assert len(cl.result_list) == 50  # rows 101 to 150, the last counted
    assert client.get(reverse("admin:prescriptions_dossierevent_changelist") + "?p=0").status_code == 302


def test_the_searches_take_a_reference_prefix_or_a_prescriber_name_and_no_identity(client, superuser):
    client.force_login(superuser)
    seed(12, seed=6)
    dossier = Dossier.objects.order_by("pk").first()
    patient = dossier.persons.get(relationship=DossierPerson.Relationship.INDEX).patient
    url = reverse("admin:prescriptions_dossier_changelist")

    response, queries = changelist(client, "prescriptions_dossier", f"?q={dossier.reference.lower()}")
    assert list(response.context["cl"].result_list) == [dossier]
    # An exact or prefix comparison the reference's index serves: never UPPER(reference) nor a %…% pattern.
    search = [q for q in queries if "prescriptions_dossier" in q and "LIKE" in q.upper()]
    assert search and not any("UPPER(" in q and "reference" in q for q in search)
    year_prefix = dossier.reference[: len("PFMG-2025")]
    assert dossier in client.get(url, {"q": year_prefix}).context["cl"].result_list
    by_prescriber = client.get(url, {"q": dossier.prescriber.last_name[:4]}).context["cl"].result_list
    assert dossier in by_prescriber and all(d.prescriber.last_name for d in by_prescriber)
    assert list(client.get(url, {"q": patient.birth_name}).context["cl"].result_list) == []

    timeline = client.get(reverse("admin:prescriptions_dossierevent_changelist"), {"q": dossier.reference})
    assert {e.dossier_id for e in timeline.context["cl"].result_list} == {dossier.pk}
    term = DossierPhenotype.objects.first()
    phenotypes = client.get(reverse("admin:prescriptions_dossierphenotype_changelist"), {"q": term.term_id})
    assert {p.term_id for p in phenotypes.context["cl"].result_list} == {term.term_id}
    trail = client.get(reverse("admin:audit_auditentry_changelist"), {"q": "root"}).context["cl"].result_list
    assert trail and {e.actor_username for e in trail} == {"root"}


def _selects(html: str) -> list[int]:
    """The number of options of each <select> of the page."""
    return [block.count("<option") for block in re.findall(r"<select.*?</select>", html, flags=re.S)]


def _own(queries) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if not INFRASTRUCTURE.search(q["sql"])]


def test_the_dossier_change_page_runs_a_fixed_number_of_queries_and_ships_no_long_select(client, superuser):
    client.force_login(superuser)
    seed(30, seed=7)
    draft = Dossier.objects.filter(status=Dossier.Status.DRAFT).order_by("pk").first()
    if draft is None:  # a seed without a draft: make one, its ORPHA field editable
        draft = f.dossier(prescriber_user=f.prescriber())
    busiest = max(Dossier.objects.exclude(status=Dossier.Status.DRAFT), key=lambda d: d.events.count())
    assert busiest.events.count() >= 5
    client.get(reverse("admin:prescriptions_dossier_change", args=[draft.pk]))  # content types cached

    for dossier in (draft, busiest):
        url = reverse("admin:prescriptions_dossier_change", args=[dossier.pk])
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200
        # The dossier with everything it points to, one query per inline, the actions' permission check.
        assert len(_own(queries)) <= CHANGE_PAGE_OWN_MAX_QUERIES, _own(queries)
        html = response.content.decode()
        assert max(_selects(html), default=0) < 100, _selects(html)
        assert dossier.reference in html
    # The draft's suspected diagnosis is searched as one types among 4,000 ORPHA diseases.
    html = client.get(reverse("admin:prescriptions_dossier_change", args=[draft.pk])).content.decode()
    field = re.search(r'<select[^>]*name="suspected_diagnosis"[^>]*>', html)
    assert field and "admin-autocomplete" in field.group(0) and "data-ajax--url" in field.group(0)


def test_the_dossier_change_page_costs_the_same_whatever_its_number_of_persons_and_events(client, superuser):
    client.force_login(superuser)
    seed(30, seed=8)
    closed = Dossier.objects.filter(status=Dossier.Status.CLOSED)

    def size(d):
        return d.events.count() + d.persons.count() + d.phenotypes.count() + d.documents.count()

    small, big = min(closed, key=size), max(closed, key=size)
    assert size(big) > size(small)
    client.get(reverse("admin:prescriptions_dossier_change", args=[small.pk]))  # content types cached
    costs = []
    for dossier in (small, big):
        with CaptureQueriesContext(connection) as queries:
            assert (
                client.get(reverse("admin:prescriptions_dossier_change", args=[dossier.pk])).status_code
                == 200
            )
        costs.append(len(queries))
    assert costs[0] == costs[1], costs


def test_the_admin_s_own_trail_still_records_changelist_views(client, superuser):
    client.force_login(superuser)
    seed(3, seed=9)
    client.get(reverse("admin:prescriptions_dossier_changelist"), {"q": "pfmg-"})
    entry = AuditEntry.objects.order_by("-seq").first()
    assert (entry.url_name, entry.action, entry.actor) == (
        "admin:prescriptions_dossier_changelist",
        Action.ADMIN_VIEW,
        superuser,
    )


def test_the_orpha_field_is_searched_as_one_types(client, superuser):
    from ontology.models import OrphaDisease

    client.force_login(superuser)
    disease = OrphaDisease.objects.filter(name__icontains="marfan").order_by("id").first()
    assert disease is not None
    response = client.get(
        reverse("admin:autocomplete"),
        {
            "app_label": "prescriptions",
            "model_name": "dossier",
            "field_name": "suspected_diagnosis",
            "term": "Marfan",
        },
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert str(disease.pk) in {r["id"] for r in results} and len(results) < 50
