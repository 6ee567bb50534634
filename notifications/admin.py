from django.contrib import admin
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from pfmg.admin_base import LargeTableAdminMixin

from .models import Notification, OutboxEmail, Reminder


def search_by_reference_or_recipient(queryset, search_term: str):
    """Each word is a dossier reference (its start) or a recipient's exact username, told apart by shape: an OR
    of the two would be a condition across two joins, which no index serves."""
    for word in search_term.split():
        if word.upper().startswith("PFMG-"):
            queryset = queryset.filter(dossier__reference__startswith=word.upper())
        else:
            users = list(get_user_model().objects.filter(username=word).values_list("pk", flat=True))
            queryset = queryset.filter(recipient__in=users)
    return queryset, False


@admin.register(Notification)
class NotificationAdmin(LargeTableAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "recipient", "message", "read_at")
    list_filter = ("read_at",)
    # Not the message's text: a substring of millions of messages is a scan of the table.
    search_fields = ("dossier__reference", "recipient__username")
    search_help_text = _("Début d'une référence de dossier (PFMG-…) ou identifiant exact du destinataire.")
    list_select_related = ("recipient",)
    ordering = ("-pk",)
    sortable_by = ()

    def get_search_results(self, request, queryset, search_term):
        return search_by_reference_or_recipient(queryset, search_term)

    readonly_fields = ("recipient", "dossier", "event", "message", "created_at", "read_at")

    def has_add_permission(self, request):
        return False


@admin.register(OutboxEmail)
class OutboxEmailAdmin(LargeTableAdminMixin, admin.ModelAdmin):
    """Failed e-mails (after their retries) show here for an administrator."""

    list_display = ("created_at", "to", "subject", "state", "attempts", "sent_at")
    list_filter = ("state",)
    search_fields = ("to__exact",)  # the index on the address serves it
    search_help_text = _("Adresse exacte du destinataire.")
    ordering = ("-pk",)  # created_at alone has no index (the state's does, for the sending task)
    sortable_by = ()
    readonly_fields = (
        "notification",
        "to",
        "subject",
        "body",
        "state",
        "attempts",
        "last_error",
        "created_at",
        "sent_at",
    )
    actions = ["retry"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Renvoyer les e-mails sélectionnés")
    def retry(self, request, queryset):
        from .services import queue_email

        for email in queryset.exclude(state=OutboxEmail.State.SENT):
            OutboxEmail.objects.filter(pk=email.pk).update(state=OutboxEmail.State.PENDING)
            queue_email(email.pk)


@admin.register(Reminder)
class ReminderAdmin(LargeTableAdminMixin, admin.ModelAdmin):
    list_display = ("kind", "dossier", "recipient", "since")
    list_filter = ("kind",)
    search_fields = ("dossier__reference", "recipient__username")
    search_help_text = _("Début d'une référence de dossier (PFMG-…) ou identifiant exact du destinataire.")
    list_select_related = ("dossier", "recipient")
    ordering = ("-pk",)
    sortable_by = ()

    def get_search_results(self, request, queryset, search_term):
        return search_by_reference_or_recipient(queryset, search_term)

    readonly_fields = ("kind", "dossier", "recipient", "since", "notification")

    def has_add_permission(self, request):
        return False
