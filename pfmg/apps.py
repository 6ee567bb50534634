from django.apps import AppConfig


class PfmgConfig(AppConfig):
    name = "pfmg"
    verbose_name = "PFMG"

    def ready(self) -> None:
        from . import after_response

        after_response.connect()
