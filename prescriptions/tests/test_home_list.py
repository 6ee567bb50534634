"""The home list at scale: scopes served by indexes, keyset pages, bounded counts, indexed search (issue #12)."""

import datetime as dt
import functools
import operator
import re

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from people.models import Role
from prescriptions import selectors
from prescriptions.models import Dossier, DossierPerson, Patient
from tests import factories as f

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("reference_data")]
S = Dossier.Status
VALID_INS = "215037505608975"  # female, born March 2015, valid key


def copies(
    template: Dossier, n: int, *, prefix: str, status: str = S.DRAFT, start=None, **fields
) -> list[Dossier]:
    """``n`` dossiers like ``template`` (bulk: the list is what is tested, not the prescribing journey), each
    with its own index case, a minute apart from ``start`` backwards, every third sharing its neighbour's time
    (ties on updated_at: the keyset must name its boundary by (updated_at, id))."""
    start = start or timezone.now()
    rows = []
    for i in range(n):
        when = start - dt.timedelta(minutes=(i // 3) * 3)
        rows.append(
            Dossier(
                reference=f"{prefix}-{i:06d}",
                pre_indication_version_id=template.pre_indication_version_id,
                prescriber_id=fields.get("prescriber_id", template.prescriber_id),
                entered_by_id=fields.get("entered_by_id", template.entered_by_id),
                establishment_id=template.establishment_id,
                rcp_id=fields.get("rcp_id", template.rcp_id),
                laboratory_id=fields.get("laboratory_id"),
                status=status,
                created_at=when,
                updated_at=when,
                status_since=when,
            )
        )
    created = Dossier.objects.bulk_create(rows)
    patients = Patient.objects.bulk_create(
        Patient(birth_name=f"NOM{prefix}{i}", first_names="Alix", date_of_birth=dt.date(2010, 1, 1), sex="F")
        for i in range(n)
    )
    DossierPerson.objects.bulk_create(
        DossierPerson(dossier=d, patient=p, relationship=DossierPerson.Relationship.INDEX)
        for d, p in zip(created, patients, strict=True)
    )
    return created


def walk(client, first_url: str) -> tuple[list[str], list[str]]:
    """Every reference the list shows, following "Suivant" to the end; and the pages' next links."""
    seen, links, url = [], [], first_url
    while True:
        page = client.get(url).content.decode()
        seen += listed(page)
        link = re.search(r'href="\?([^"]*)" rel="next"', page)
        if not link:
            return seen, links
        links.append(link.group(1).replace("&amp;", "&"))
        url = f"{reverse('home')}?{links[-1]}"


@pytest.fixture
def prescriber():
    return f.prescriber()


@pytest.fixture
def coordinator_who_prescribes():
    """A prescriber who also coordinates an RCP: a scope of two branches (own dossiers, the RCP's)."""
    user = f.prescriber()
    rcp = f.rcp_body()
    f.coordinator(rcp, user=user)
    own = f.dossier(prescriber_user=user, complete=False, rcp=False)
    other = f.dossier(complete=False, rcp=rcp)
    return user, rcp, own, other


def test_the_home_list_walks_by_keyset_forward_and_back_without_repeat_or_gap(
    client, coordinator_who_prescribes
):
    user, rcp, own, other = coordinator_who_prescribes
    start = timezone.now() - dt.timedelta(days=1)
    copies(own, 30, prefix="OWN", start=start)
    copies(other, 30, prefix="RCP", status=S.SUBMITTED, start=start - dt.timedelta(seconds=30))
    copies(
        other, 5, prefix="HID", status=S.DRAFT, start=start
    )  # the RCP's drafts (as ``other``): not in the scope
    expected = list(
        selectors.dossiers_visible_to(user).order_by("-updated_at", "-pk").values_list("reference", flat=True)
    )
    assert len(expected) == 61 and not any(r.startswith("HID") for r in expected)
    client.force_login(user)
    seen, links = walk(client, reverse("home"))
    assert seen == expected  # same order, no repeat, no gap
    assert len(links) == 2 and all("curseur=" in link and "page=" not in link for link in links)
    # Back from the last page: the page before it.
    last = client.get(f"{reverse('home')}?{links[-1]}").content.decode()
    previous = re.search(r'href="\?([^"]*)" rel="prev"', last).group(1).replace("&amp;", "&")
    back = client.get(f"{reverse('home')}?{previous}").content.decode()
    assert listed(back) == expected[25:50]
    # A filter is kept from page to page.
    seen, links = walk(client, f"{reverse('home')}?statut=submitted")
    assert seen == [r for r in expected if r.startswith("RCP")]
    assert links and all("statut=submitted" in link for link in links)


def test_the_count_is_bounded(client, prescriber):
    template = f.dossier(prescriber_user=prescriber, complete=False, rcp=False)
    client.force_login(prescriber)
    assert "1 dossier<" in client.get(reverse("home")).content.decode()
    copies(template, 1000, prefix="MANY")
    page = client.get(reverse("home")).content.decode()
    caption = re.search(r'<caption class="muted">(.*?)</caption>', page).group(1)
    assert re.fullmatch(r"plus de 1\D?000 dossiers", caption), caption
    assert "1001" not in page


def test_the_to_validate_count_is_bounded(client, prescriber):
    assistant = f.assistant_for(prescriber)
    template = f.dossier(prescriber_user=prescriber, entered_by=assistant, complete=False, rcp=False)
    Dossier.objects.filter(pk=template.pk).update(handed_over_at=timezone.now())
    client.force_login(prescriber)
    assert "À valider (1)" in client.get(reverse("home")).content.decode()
    handed = copies(template, 1000, prefix="HAND")
    Dossier.objects.filter(pk__in=[d.pk for d in handed]).update(handed_over_at=timezone.now())
    assert re.search(r"À valider \(plus de 1\D?000\)", client.get(reverse("home")).content.decode())


@pytest.fixture
def helene(prescriber):
    dossier = f.dossier(prescriber_user=prescriber, complete=False, rcp=False)
    Patient.objects.filter(dossier_roles__dossier=dossier).update(
        birth_name="LEFÈVRE", used_name="DURAND", first_names="Hélène Marie", ins=VALID_INS
    )
    other = f.dossier(prescriber_user=prescriber, complete=False, rcp=False)
    return dossier, other


def search(client, query: str) -> list[str]:
    """The references a search lists (not the form, which shows the query typed)."""
    return listed(client.post(reverse("home"), {"q": query}, follow=True).content.decode())


def listed(page: str) -> list[str]:
    return re.findall(r'<td><a href="/dossiers/\d+/">([^<]+)</a></td>', page)


def test_search_by_first_name_used_name_reference_prefix_and_ins(client, prescriber, helene):
    dossier, other = helene
    client.force_login(prescriber)
    common = dossier.reference[: len(dossier.reference) - 3]
    for query in (
        "Hélène",
        "hélène marie",
        "DURAND",
        VALID_INS,
        dossier.reference,
        dossier.reference.lower(),
    ):
        page = search(client, query)
        assert dossier.reference in page and other.reference not in page, query
    both = search(client, common.lower())
    assert dossier.reference in both and other.reference in both
    for query in ("Hélène Alice", "zzz", VALID_INS[:-1], "PFMG-1999"):
        assert dossier.reference not in search(client, query), query


@pytest.mark.postgres
def test_search_by_name_ignores_accents_and_case(client, prescriber, helene):
    dossier, other = helene
    client.force_login(prescriber)
    for query in ("helene", "HELENE", "lefevre", "Lefèvre hélène", "lefe"):
        page = search(client, query)
        assert dossier.reference in page and other.reference not in page, query


@pytest.mark.postgres
def test_the_name_search_is_served_by_the_trigram_index():
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        qs = Patient.objects.alias(search_name=selectors.PatientSearchName()).filter(
            search_name__contains="helene"
        )
        plan = qs.explain()
        cursor.execute("RESET enable_seqscan")
    assert "patient_search_name_trgm_idx" in plan, plan


def test_search_finds_only_within_the_scope(client, prescriber, helene):
    dossier, _other = helene
    stranger = f.prescriber()
    client.force_login(stranger)
    for query in ("Hélène", VALID_INS, dossier.reference):
        assert dossier.reference not in search(client, query), query


def _old_scope(user) -> set[int]:
    """The scope as it was written before issue #12 (an OR across joins): the reference the new one must equal."""
    if user.is_superuser or user.has_role(Role.ADMINISTRATOR):
        return set(Dossier.objects.values_list("pk", flat=True))
    scope = [
        Q(prescriber=user),
        Q(entered_by=user),
        Q(prescriber__assisted_by__assistant=user),
        Q(rcp__memberships__user=user, status__in=selectors.RCP_VISIBLE),
        Q(laboratory__memberships__user=user, status__in=selectors.LAB_VISIBLE),
    ]
    if user.has_role(Role.GENETIC_COUNSELLOR) and user.establishment_id:
        scope.append(Q(establishment_id=user.establishment_id) & ~Q(status=S.DRAFT))
    return set(Dossier.objects.filter(functools.reduce(operator.or_, scope)).values_list("pk", flat=True))


def test_each_role_sees_exactly_what_it_saw_before(coordinator_who_prescribes):
    from people.models import Laboratory

    user, rcp, own, other = coordinator_who_prescribes
    seqoia = Laboratory.objects.get(code="seqoia")
    assistant = f.assistant_for(own.prescriber)
    counsellor = f.UserFactory(roles=[Role.GENETIC_COUNSELLOR], establishment=other.establishment)
    lab = f.lab_member("seqoia")
    for status in (S.DRAFT, S.SUBMITTED, S.CANCELLED, S.FINALISED, S.WITHDRAWN, S.CLOSED):
        copies(own, 2, prefix=f"O{status}", status=status, laboratory_id=seqoia.pk)
        copies(other, 2, prefix=f"R{status}", status=status, laboratory_id=seqoia.pk)
        copies(own, 1, prefix=f"A{status}", status=status, entered_by_id=assistant.pk)
    people = [user, own.prescriber, other.prescriber, assistant, counsellor, lab, f.UserFactory()]
    people.append(f.UserFactory(is_superuser=True))
    for person in people:
        visible = list(selectors.dossiers_visible_to(person).values_list("pk", flat=True))
        assert len(visible) == len(set(visible)), person  # no repeated row
        assert set(visible) == _old_scope(person), person
    assert set(selectors.dossiers_visible_to(lab).values_list("status", flat=True)) <= set(
        selectors.LAB_VISIBLE
    )
    assert not selectors.dossiers_visible_to(f.UserFactory(is_active=False)).exists()


def test_a_withdrawn_dossier_is_not_found_by_name_from_its_laboratory(client, prescriber):
    from people.models import Laboratory

    template = f.dossier(prescriber_user=prescriber, complete=False, rcp=False)
    seqoia = Laboratory.objects.get(code="seqoia")
    [withdrawn] = copies(template, 1, prefix="WD", status=S.WITHDRAWN, laboratory_id=seqoia.pk)
    [closed] = copies(template, 1, prefix="CL", status=S.CLOSED, laboratory_id=seqoia.pk)
    Dossier.objects.filter(pk=withdrawn.pk).update(reference="PFMG-1999-000001")
    withdrawn.refresh_from_db()
    Patient.objects.filter(dossier_roles__dossier__in=[withdrawn, closed]).update(birth_name="RETRAIT")
    client.force_login(f.lab_member("seqoia"))
    by_name = search(client, "Retrait")
    assert closed.reference in by_name and withdrawn.reference not in by_name
    assert withdrawn.reference in search(client, withdrawn.reference)


def test_the_home_list_costs_the_same_queries_with_5_or_40_dossiers(client, coordinator_who_prescribes):
    user, rcp, own, other = coordinator_who_prescribes
    client.force_login(user)
    counts = []
    for n in (5, 40):
        copies(own, n, prefix=f"Q{n}")
        copies(other, n, prefix=f"R{n}", status=S.SUBMITTED)
        for url in (reverse("home"), f"{reverse('home')}?statut=submitted"):
            client.get(url)  # warm (session, caches)
            with CaptureQueriesContext(connection) as queries:
                response = client.get(url)
            assert response.status_code == 200
            counts.append(len(queries))
    assert counts[0] == counts[2] and counts[1] == counts[3], counts
    assert max(counts) <= 15, counts


def test_the_home_list_query_budget(client, coordinator_who_prescribes, django_assert_max_num_queries):
    user, rcp, own, other = coordinator_who_prescribes
    copies(own, 40, prefix="BUD")
    client.force_login(user)
    client.get(reverse("home"))
    response = client.post(reverse("home"), {"q": "Alix"})
    with django_assert_max_num_queries(15):
        page = client.get(response["Location"])
    assert page.status_code == 200 and "BUD-000000" in page.content.decode()
