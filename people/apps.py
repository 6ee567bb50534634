from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PeopleConfig(AppConfig):
    name = "people"
    verbose_name = _("Personnes et organisations")

    def ready(self) -> None:
        from . import auth  # noqa: F401 - connects the session clock to user_logged_in
