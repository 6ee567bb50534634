from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LabsConfig(AppConfig):
    name = "labs"
    verbose_name = _("Laboratoires")

    def ready(self) -> None:
        from django.urls import reverse

        from people.models import Role
        from pfmg.nav import register_nav
        from pfmg.renders import register_render_sweep
        from prescriptions.conditions import register_requirement
        from prescriptions.panels import register_dedicated_screen, register_fold, register_panel
        from prescriptions.services import transition_recorded

        from . import apis, conditions, panels, pdf, services

        apis.register()  # the laboratory transitions' bodies through the API, and LabActionRefused as a 400
        register_render_sweep(pdf.queue_missing_report_files)

        for transition, check in conditions.REQUIREMENTS.items():
            register_requirement(transition, check)
        transition_recorded.connect(services.route_on_validation, dispatch_uid="labs.route_on_validation")
        transition_recorded.connect(services.declare_shipments, dispatch_uid="labs.declare_shipments")
        transition_recorded.connect(services.conform_on_reception, dispatch_uid="labs.conform_on_reception")
        transition_recorded.connect(services.sign_on_transition, dispatch_uid="labs.sign_on_transition")
        register_nav(
            url_name="labs_queue",
            label=_("Laboratoire"),
            visible=lambda user: user.has_role(Role.LABORATORY_STAFF),
            order=40,
        )
        register_panel(key="labs", template="labs/panel.html", context=panels.panel_context, order=60)
        for fold in panels.FOLDS:
            register_fold(fold)
        screens = {
            "ship_samples": "labs_samples",
            "receive": "labs_reception",
            "reject_samples": "labs_reception",
            "start_sequencing": "labs_sequencing",
            "start_analysis": "labs_analysis",
            "sign_report": "labs_report",
            "deliver_report": "labs_report",
        }
        for transition, url_name in screens.items():
            register_dedicated_screen(transition, lambda d, u=url_name: reverse(u, args=[d.pk]))
