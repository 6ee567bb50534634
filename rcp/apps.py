from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RcpConfig(AppConfig):
    name = "rcp"
    verbose_name = _("RCP-FMG")

    def ready(self) -> None:
        from django.urls import reverse

        from pfmg.nav import register_nav
        from prescriptions.api_transitions import register_api_transition, register_refusal
        from prescriptions.conditions import register_requirement
        from prescriptions.panels import register_dedicated_screen, register_fold, register_panel
        from prescriptions.services import transition_recorded

        from . import apis, panels, services

        transition_recorded.connect(services.on_transition, dispatch_uid="rcp.on_transition")
        register_requirement("close", services.conclusion_missing)
        register_nav(url_name="rcp:home", label=_("Mes RCP"), visible=panels.belongs_to_an_rcp, order=20)
        register_panel(key="rcp", template="rcp/panel.html", context=panels.dossier_panel, order=20)
        for fold in panels.FOLDS:
            register_fold(fold)
        for name in ("validate", "reject", "request_more_info"):
            register_dedicated_screen(
                name, lambda dossier: reverse("rcp:dossier", args=[dossier.pk]) + "#decision"
            )
            register_api_transition(name, serializer=apis.DecisionBodySerializer, handler=apis.decide)
        # The more specific first: whose action it is (403), then any other refusal (400).
        register_refusal(services.RcpNotPermitted, 403)
        register_refusal(services.RcpRefused, 400)
