from django.apps import AppConfig
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


class ConsentConfig(AppConfig):
    name = "consent"
    verbose_name = _("Consentements")

    def ready(self) -> None:
        from pfmg.nav import register_nav
        from prescriptions.api_transitions import register_api_transition
        from prescriptions.conditions import register_requirement
        from prescriptions.panels import register_dedicated_screen, register_fold, register_panel
        from prescriptions.services import transition_recorded

        from . import rules  # noqa: F401 - registers the permissions
        from .apis import WithdrawTransitionSerializer, withdraw_through_api
        from .selectors import PANEL_FOLD, finalise_requirement
        from .services import on_transition_recorded
        from .views import panel_context

        register_requirement("finalise", finalise_requirement)
        register_panel(key="consent", template="consent/panel.html", context=panel_context, order=30)
        register_fold(PANEL_FOLD, under="persons")
        # A full withdrawal is recorded for a person, with its date and circumstances: on the consents page.
        register_dedicated_screen(
            "withdraw", lambda dossier: reverse("consent:dossier", args=[dossier.pk]) + "#retrait"
        )
        # Through the API too: a person withdraws their whole consent (the services raise Django's own refusals,
        # which the API already answers: nothing to ``register_refusal``).
        register_api_transition(
            "withdraw", serializer=WithdrawTransitionSerializer, handler=withdraw_through_api
        )
        register_nav(
            url_name="consent:notices", label=_("Patients et familles"), visible=lambda user: True, order=90
        )
        transition_recorded.connect(on_transition_recorded, dispatch_uid="consent_withdrawal_deletion")
