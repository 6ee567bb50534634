"""The user's own notifications through the API: newest first by cursor, the unread filter, marking read; never
another user's."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from notifications import apis
from notifications.models import Notification
from people.services import issue_api_token
from tests import factories as f

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("reference_data")]


@pytest.fixture
def inbox(db):
    """A prescriber with 7 notifications (pairs sharing their time: the cursor names (created_at, id)), 2 of
    them read, and another prescriber with one of their own."""
    user, other = f.prescriber(), f.prescriber()
    dossier = f.dossier(prescriber_user=user, complete=False, rcp=False)
    now = timezone.now()
    Notification.objects.bulk_create(
        Notification(
            recipient=user,
            dossier=dossier,
            message=f"Message {i}",
            created_at=now - dt.timedelta(minutes=i // 2),
            read_at=now if i in (1, 4) else None,
        )
        for i in range(7)
    )
    theirs = Notification.objects.create(recipient=other, dossier=dossier, message="Pas pour vous")
    return user, other, theirs


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def walk(client: Client, url: str) -> list[dict]:
    rows = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        rows += response.json()["results"]
        url = response.json()["next"]
    return rows


def test_the_list_is_the_users_own_newest_first_by_cursor_and_filters_unread(inbox, monkeypatch):
    user, _other, _theirs = inbox
    monkeypatch.setattr(apis, "API_PAGE_SIZE", 3)
    client = client_for(user)
    expected = list(
        Notification.objects.filter(recipient=user)
        .order_by("-created_at", "-pk")
        .values_list("pk", flat=True)
    )
    first = client.get("/api/v1/notifications/").json()
    assert first["unread_count"] == 5 and first["previous"] is None and len(first["results"]) == 3
    rows = walk(client, "/api/v1/notifications/")
    assert [r["id"] for r in rows] == expected  # no repeat, no gap, nobody else's
    assert "Pas pour vous" not in {r["message"] for r in rows}
    assert {r["dossier"] for r in rows} == {Notification.objects.get(pk=expected[0]).dossier.reference}
    unread = walk(client, "/api/v1/notifications/?unread=true")
    assert [r["id"] for r in unread] == [
        pk for pk in expected if Notification.objects.get(pk=pk).read_at is None
    ]
    assert all(r["read_at"] is None for r in unread)
    read = walk(client, "/api/v1/notifications/?unread=false")
    assert {r["message"] for r in read} == {"Message 1", "Message 4"}
    assert client.get("/api/v1/notifications.json").status_code == 404  # one URL per resource: no .json twin
    refused = client.get("/api/v1/notifications/", {"unread": "maybe"})
    assert refused.status_code == 400 and "unread" in refused.json()["detail"]


def test_marking_read_by_id_or_all_touches_only_the_users_own(inbox):
    user, other, theirs = inbox
    client = client_for(user)
    mine = list(
        Notification.objects.filter(recipient=user, read_at__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    # Another user's id is ignored; one's own is marked.
    response = client.post(
        "/api/v1/notifications/read/", {"ids": [mine[0], theirs.pk]}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    assert response.json() == {"marked": 1, "unread_count": 4}
    theirs.refresh_from_db()
    assert theirs.read_at is None
    assert Notification.objects.get(pk=mine[0]).read_at is not None
    # Neither ids nor all, or both: said, and nothing changes.
    for body in ({}, {"all": True, "ids": [mine[1]]}, {"all": False}):
        refused = client.post("/api/v1/notifications/read/", body, content_type="application/json")
        assert refused.status_code == 400
        assert "« ids »" in refused.json()["non_field_errors"][0]
    assert Notification.objects.filter(recipient=user, read_at__isnull=True).count() == 4
    # All of one's own, none of another's.
    response = client.post("/api/v1/notifications/read/", {"all": True}, content_type="application/json")
    assert response.json() == {"marked": 4, "unread_count": 0}
    assert not Notification.objects.filter(recipient=user, read_at__isnull=True).exists()
    theirs.refresh_from_db()
    assert theirs.read_at is None
    # The other user marking the first user's notifications read changes nothing.
    _token, clear = issue_api_token(user=other)
    other_client = Client(HTTP_AUTHORIZATION=f"Token {clear}")
    Notification.objects.filter(recipient=user).update(read_at=None)
    response = other_client.post(
        "/api/v1/notifications/read/", {"ids": mine}, content_type="application/json"
    )
    assert response.json() == {"marked": 0, "unread_count": 1}
    assert Notification.objects.filter(recipient=user, read_at__isnull=True).count() == 7
    assert other_client.get("/api/v1/notifications/").json()["results"][0]["message"] == "Pas pour vous"
    assert Client().get("/api/v1/notifications/").status_code == 401
