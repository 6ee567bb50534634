from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from pfmg.pagination import keyset_page

from . import services
from .models import Notification


@login_required
def inbox(request):
    # Newest first, by keyset on (recipient, created_at, id): the same cost on page 1 and deep down, no count.
    notifications = Notification.objects.filter(recipient=request.user).select_related("dossier")
    page = keyset_page(
        notifications, order=("-created_at", "-pk"), cursor=request.GET.get("curseur"), size=30
    )
    return render(request, "notifications/inbox.html", {"page": page})


@login_required
@require_POST
def mark_read(request):
    ids = [int(i) for i in request.POST.getlist("notification") if i.isdigit()]
    services.mark_read(user=request.user, notification_ids=ids or None)
    return redirect("notifications_inbox")


def unread_count(request) -> dict:
    """Context processor: the unread count in the header (one query, only for logged-in users)."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {
        "unread_notifications": Notification.objects.filter(
            recipient=request.user, read_at__isnull=True
        ).count()
    }
