from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from . import services
from .models import Notification


@login_required
def inbox(request):
    notifications = Notification.objects.filter(recipient=request.user).select_related("dossier")
    page = Paginator(notifications, 30).get_page(request.GET.get("page"))
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
