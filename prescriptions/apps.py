from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PrescriptionsConfig(AppConfig):
    name = "prescriptions"
    verbose_name = _("Prescriptions")

    def ready(self) -> None:
        from pfmg.renders import register_render_sweep

        from .pdf import queue_missing_summaries

        register_render_sweep(queue_missing_summaries)

        from .api_transitions import register_api_transition
        from .apis_drafting import SubmitBodySerializer, submit_through_api

        # Submitting is the review page's: the RCP chosen among the pre-indication's, the attestation ticked.
        register_api_transition("submit", serializer=SubmitBodySerializer, handler=submit_through_api)
