from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PrescriptionsConfig(AppConfig):
    name = "prescriptions"
    verbose_name = _("Prescriptions")

    def ready(self) -> None:
        from pfmg.renders import register_render_sweep

        from .pdf import queue_missing_summaries

        register_render_sweep(queue_missing_summaries)
