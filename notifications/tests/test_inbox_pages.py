"""The inbox by keyset pages (issue #12): the same cost on page 1 and deep down, no full count."""

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from notifications.models import Notification
from tests import factories as f

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("reference_data")]


def test_the_inbox_walks_by_cursor_newest_first_without_repeat_or_gap(client):
    user = f.prescriber()
    dossier = f.dossier(prescriber_user=user, complete=False, rcp=False)
    now = timezone.now()
    # Pairs share their time: the cursor must name its boundary by (created_at, id).
    Notification.objects.bulk_create(
        Notification(
            recipient=user,
            dossier=dossier,
            message=f"Message {i:02d}",
            created_at=now - dt.timedelta(minutes=i // 2),
        )
        for i in range(35)
    )
    Notification.objects.create(recipient=f.prescriber(), dossier=dossier, message="Pas pour vous")
    expected = list(
        Notification.objects.filter(recipient=user)
        .order_by("-created_at", "-pk")
        .values_list("message", flat=True)
    )
    client.force_login(user)
    first = client.get(reverse("notifications_inbox")).content.decode()
    seen = re.findall(r">(Message \d\d)</a>", first)
    following = re.search(r'href="\?(curseur=[^"]+)" rel="next"', first).group(1)
    second = client.get(f"{reverse('notifications_inbox')}?{following}").content.decode()
    seen += re.findall(r">(Message \d\d)</a>", second)
    assert seen == expected and len(seen) == 35 and "Pas pour vous" not in first + second
    assert 'rel="next"' not in second
    back = re.search(r'href="\?(curseur=[^"]+)" rel="prev"', second).group(1)
    again = client.get(f"{reverse('notifications_inbox')}?{back}").content.decode()
    assert re.findall(r">(Message \d\d)</a>", again) == expected[:30]
