"""The keyset pages and bounded counts every list uses (pfmg.pagination)."""

import base64
import datetime as dt
import json

import pytest
from django.utils import timezone

from people.models import User
from pfmg.pagination import bounded_count, keyset_page

pytestmark = pytest.mark.django_db

ORDER = ("-date_joined", "-pk")


@pytest.fixture
def users():
    start = timezone.now()
    # Ties on the first field on purpose: the boundary row must be named by (date, pk), not the date alone.
    rows = [User(username=f"u{i:02d}", date_joined=start - dt.timedelta(minutes=i // 3)) for i in range(23)]
    User.objects.bulk_create(rows)
    return list(User.objects.filter(username__startswith="u").order_by(*ORDER))


def test_pages_walk_forward_and_back_without_gaps_or_repeats(users):
    qs = User.objects.filter(username__startswith="u")
    seen, page, cursors = [], keyset_page(qs, order=ORDER, size=5), []
    while True:
        seen += page.object_list
        if not page.has_next:
            break
        cursors.append(page.next_cursor)
        page = keyset_page(qs, order=ORDER, cursor=page.next_cursor, size=5)
    assert seen == users
    assert [len(p) for p in [page]] == [3]
    # Back from the last page: the page before it, in the same order.
    back = keyset_page(qs, order=ORDER, cursor=page.previous_cursor, size=5)
    assert back.object_list == users[15:20]
    assert back.has_previous and back.has_next


def test_a_garbled_cursor_is_the_first_page(users):
    qs = User.objects.filter(username__startswith="u")
    assert keyset_page(qs, order=ORDER, cursor="%%%not-a-cursor", size=5).object_list == users[:5]


def test_a_forged_cursor_is_the_first_page_not_a_server_error(users):
    qs = User.objects.filter(username__startswith="u")
    for values in (["not-a-date", 1], [users[3].date_joined.isoformat(), "not-an-id"]):
        forged = base64.urlsafe_b64encode(json.dumps(["n", values]).encode()).decode().rstrip("=")
        assert keyset_page(qs, order=ORDER, cursor=forged, size=5).object_list == users[:5]


def test_bounded_count_stops_at_its_limit(users):
    qs = User.objects.filter(username__startswith="u")
    assert (bounded_count(qs, limit=30).value, bounded_count(qs, limit=30).more) == (23, False)
    small = bounded_count(qs, limit=10)
    assert (small.value, small.more, str(small)) == (10, True, "> 10")
