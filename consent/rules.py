"""Who may see and record consents: one source of truth for the views, the panel, the API and the services.

Consent data are shown only to those who care for the dossier: its prescriber, their prescription assistants,
whoever entered it, the genetic counsellors of the prescribing establishment, and administrators. Never to
laboratory staff nor to RCP-FMG members (the laboratories get one answer: ``selectors.may_report_additional_findings``).
"""

import rules

from people.rules import is_administrator
from prescriptions.rules import (
    assists_dossier_prescriber,
    is_dossier_enterer,
    is_dossier_prescriber,
    is_establishment_counsellor,
)

cares_for_dossier = (
    is_dossier_prescriber
    | assists_dossier_prescriber
    | is_dossier_enterer
    | is_establishment_counsellor
    | is_administrator
)


@rules.predicate
def export_research(user) -> bool:
    """The national data centre's account (given the permission in the admin), or an administrator."""
    return bool(
        user
        and user.is_authenticated
        and (is_administrator.test(user) or user.has_perm("consent.export_research"))
    )


rules.add_perm("consent.view_dossier_consents", cares_for_dossier)
rules.add_perm("consent.record_dossier_consent", cares_for_dossier)
