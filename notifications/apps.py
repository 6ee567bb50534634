from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = _("Notifications")

    def ready(self) -> None:
        from prescriptions.services import transition_recorded

        from .services import on_transition

        transition_recorded.connect(on_transition, dispatch_uid="notifications.on_transition")
