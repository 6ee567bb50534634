"""The laboratory queue stays small: keyset pages along (laboratory, status, status_since), oldest wait first
across the working statuses, a status filter, a search by reference, tube barcode, sample number or run,
counts per status bounded, and the same number of queries with 3 or 30 dossiers waiting."""

import datetime as dt
import itertools
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from labs import selectors
from labs.models import Sample, SequencingRun
from people.models import LaboratoryMembership
from pfmg.demo import PATHS, Cast, walk
from prescriptions.models import Dossier, DossierPerson
from tests import factories as f

pytestmark = pytest.mark.usefixtures("reference_data")
S = Dossier.Status
_numbers = itertools.count(10)


@pytest.fixture
def cast(db):
    return Cast(
        prescriber=f.prescriber(),  # Paris: SeqOIA's territory
        coordinator=f.coordinator(f.rcp_body()),
        lab_staff=f.lab_member("seqoia"),
        biologist=f.lab_member("seqoia", LaboratoryMembership.Function.BIOLOGIST),
    )


def walked(cast, status, days_ago: int = 30) -> Dossier:
    dossier = f.dossier(prescriber_user=cast.prescriber, rcp=cast.coordinator.rcp_memberships.get().rcp)
    walk(dossier, PATHS[status], cast, timezone.now() - dt.timedelta(days=days_ago), dt.timedelta(minutes=5))
    dossier.refresh_from_db()
    return dossier


def copies(dossier: Dossier, n: int, start_days_ago: int = 100, status: str | None = None) -> list[Dossier]:
    """``n`` more dossiers like ``dossier`` (its laboratory, an index case each; ``status`` if given), each
    entered its status a day after the previous one."""
    source = Dossier.objects.get(pk=dossier.pk)
    fields = {fld.attname: getattr(source, fld.attname) for fld in Dossier._meta.concrete_fields}
    del fields["id"]
    rows = []
    for i in range(n):
        fields.update(
            reference=f"{dossier.reference}-{next(_numbers)}",
            status=status or dossier.status,
            status_since=timezone.now() - dt.timedelta(days=start_days_ago - i),
        )
        rows.append(Dossier(**fields))
    created = Dossier.objects.bulk_create(rows)
    index = dossier.persons.get(relationship=DossierPerson.Relationship.INDEX)
    DossierPerson.objects.bulk_create(
        [DossierPerson(dossier=d, patient=index.patient, relationship=index.relationship) for d in created]
    )
    return created


def walk_pages(page_of):
    pages = [page_of(None)]
    while pages[-1].has_next:
        pages.append(page_of(pages[-1].next_cursor))
    back = [pages[-1]]
    while back[-1].has_previous:
        back.append(page_of(back[-1].previous_cursor))
    return [d.pk for p in pages for d in p.object_list], [d.pk for p in reversed(back) for d in p.object_list]


def test_the_queue_is_paged_oldest_wait_first_across_statuses_without_gap_or_repeat(cast):
    shipped = walked(cast, S.SAMPLES_SHIPPED)
    copies(shipped, 4, start_days_ago=50)
    copies(shipped, 3, start_days_ago=48, status=S.FINALISED)
    copies(shipped, 3, start_days_ago=47, status=S.ANALYSIS)
    copies(shipped, 2, start_days_ago=60, status=S.CLOSED)  # not a working status: never in the queue
    waiting = Dossier.objects.filter(laboratory__code="seqoia", status__in=selectors.QUEUE_STATUSES)
    expected = [d.pk for d in sorted(waiting, key=lambda d: (d.status_since, d.pk))]
    assert len(expected) == 11

    forward, backward = walk_pages(
        lambda cursor: selectors.queue_page(cast.lab_staff, cursor=cursor, size=3)[0]
    )
    assert forward == expected and backward == expected
    finalised, _ = walk_pages(
        lambda cursor: selectors.queue_page(cast.lab_staff, status=S.FINALISED, cursor=cursor, size=2)[0]
    )
    assert finalised == [pk for pk in expected if Dossier.objects.get(pk=pk).status == S.FINALISED]
    # Another laboratory's staff see none of them.
    assert not selectors.queue_page(f.lab_member("auragen"))[0].object_list


def test_the_queue_page_links_to_the_next_one_keeping_the_filter(client, cast):
    shipped = walked(cast, S.SAMPLES_SHIPPED, days_ago=90)
    rows = copies(shipped, 30, start_days_ago=80)
    client.force_login(cast.lab_staff)
    page = client.get(reverse("labs_queue"), {"statut": S.SAMPLES_SHIPPED}).content.decode()
    assert f">{shipped.reference}<" in page and f">{rows[23].reference}<" in page
    assert f">{rows[24].reference}<" not in page
    following = re.search(r'href="(\?[^"]*curseur=[^"]+)"', page).group(1).replace("&amp;", "&")
    assert "statut=samples_shipped" in following
    rest = client.get(reverse("labs_queue") + following).content.decode()
    assert f">{rows[24].reference}<" in rest and f">{rows[29].reference}<" in rest
    assert f">{shipped.reference}<" not in rest


def test_the_queue_is_searched_by_reference_barcode_sample_number_and_run(client, cast):
    shipped = walked(cast, S.SAMPLES_SHIPPED)
    sequencing = walked(cast, S.SEQUENCING)
    others = copies(shipped, 3)
    tube = Sample.objects.filter(dossier=shipped).first()
    Sample.objects.filter(pk=tube.pk).update(barcode="ZX-4471-A")
    run = SequencingRun.objects.get(dossier=sequencing)
    client.force_login(cast.lab_staff)

    def found(term: str) -> set[str]:
        page = client.get(reverse("labs_queue"), {"q": term}).content.decode()
        return set(re.findall(r">(PFMG-[\d-]+)</a>", page))

    assert found(shipped.reference) == {shipped.reference, *(d.reference for d in others)}  # a prefix
    assert found(others[1].reference.lower()) == {others[1].reference}
    assert found("ZX-4471-A") == found("ZX-44") == {shipped.reference}
    assert found(str(tube.pk)) >= {shipped.reference}
    assert found(run.run_identifier) == {sequencing.reference}
    assert found("nothing-like-it") == set()
    # Another laboratory finds nothing of this one's, whatever it searches.
    client.force_login(f.lab_member("auragen"))
    assert found("ZX-44") == found(shipped.reference) == found(run.run_identifier) == set()


def test_too_wide_a_search_says_so(client, cast, monkeypatch):
    last = copies(walked(cast, S.FINALISED), 3)[-1]
    monkeypatch.setattr(selectors, "SEARCH_LIMIT", 2)
    client.force_login(cast.lab_staff)
    page = client.get(reverse("labs_queue"), {"q": "PFMG"}).content.decode()
    assert "Recherche trop large" in page
    narrow = client.get(reverse("labs_queue"), {"q": last.reference}).content.decode()
    assert "Recherche trop large" not in narrow


def test_counts_per_status_are_bounded(client, cast, monkeypatch):
    finalised = walked(cast, S.FINALISED)
    copies(finalised, 3)
    copies(finalised, 1, status=S.ANALYSIS)
    counts = selectors.queue_counts(cast.lab_staff, limit=3)
    assert (counts[S.FINALISED].value, counts[S.FINALISED].more) == (3, True)
    assert (counts[S.ANALYSIS].value, counts[S.ANALYSIS].more) == (1, False)
    assert (counts[S.SEQUENCING].value, counts[S.SEQUENCING].more) == (0, False)
    monkeypatch.setattr(selectors, "COUNT_LIMIT", 3)
    client.force_login(cast.lab_staff)
    assert "plus de 3" in client.get(reverse("labs_queue")).content.decode()


def test_the_queue_costs_the_same_queries_with_3_or_30_dossiers(client, cast, django_assert_max_num_queries):
    shipped = walked(cast, S.SAMPLES_SHIPPED)
    copies(shipped, 2, status=S.FINALISED)
    client.force_login(cast.lab_staff)

    def count(**params) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("labs_queue"), params).status_code == 200
        return len(ctx.captured_queries)

    few, few_searched = count(), count(q="ZX")
    copies(shipped, 14, start_days_ago=300)
    copies(shipped, 13, start_days_ago=200, status=S.ANALYSIS)
    for params in ({}, {"q": "PFMG"}, {"statut": S.ANALYSIS}):
        with django_assert_max_num_queries(15):
            assert client.get(reverse("labs_queue"), params).status_code == 200
    assert count() == few and count(q="ZX") == few_searched
