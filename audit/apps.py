from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = _("Traçabilité")

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from pfmg import trail
        from pfmg.nav import register_nav

        from . import admin_trail, guard, services

        # SQLite has no session variables: its delete trigger asks this function whether a purge is under way.
        connection_created.connect(guard.register_sqlite_function, dispatch_uid="audit_sqlite_guard")
        admin_trail.connect()
        trail.patient_data_accessed.connect(services.record_from_signal, dispatch_uid="audit_trail")
        register_nav(
            url_name="admin:audit_auditentry_changelist",
            label=_("Traçabilité"),
            visible=lambda user: user.is_staff and user.has_perm("audit.view_auditentry"),
            order=90,
        )
