from django.contrib import admin

from .models import Notification, OutboxEmail, Reminder


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("created_at", "recipient", "message", "read_at")
    list_filter = ("read_at",)
    search_fields = ("message", "recipient__username", "dossier__reference")
    list_select_related = ("recipient",)
    readonly_fields = ("recipient", "dossier", "event", "message", "created_at", "read_at")

    def has_add_permission(self, request):
        return False


@admin.register(OutboxEmail)
class OutboxEmailAdmin(admin.ModelAdmin):
    """Failed e-mails (after their retries) show here for an administrator."""

    list_display = ("created_at", "to", "subject", "state", "attempts", "sent_at")
    list_filter = ("state",)
    search_fields = ("to", "subject")
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
class ReminderAdmin(admin.ModelAdmin):
    list_display = ("kind", "dossier", "recipient", "since")
    list_filter = ("kind",)
    search_fields = ("dossier__reference", "recipient__username")
    list_select_related = ("dossier", "recipient")
    readonly_fields = ("kind", "dossier", "recipient", "since", "notification")

    def has_add_permission(self, request):
        return False
