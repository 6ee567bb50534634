"""What the rcp app adds to other apps' pages: the header link and the dossier page's RCP-FMG section."""

from __future__ import annotations

from people.models import Role

from . import rules, selectors


def belongs_to_an_rcp(user) -> bool:
    # The role, granted with every membership (people.services.add_to_rcp), costs no query on each page; the
    # page itself answers 404 to a user left with the role but no RCP.
    return user.has_role(Role.RCP_MEMBER)


def dossier_panel(request, dossier) -> dict | None:
    """The RCP decisions of the dossier and links to its sheet and minutes, for those who may see the dossier
    (the dossier page is already scoped); nothing for a draft nobody has prepared for the RCP yet."""
    decisions = selectors.decisions_of(dossier)
    may_view_sheet = rules.may_view_sheet.test(request.user, dossier)
    if not decisions and not (may_view_sheet and dossier.rcp_id and dossier.status != "draft"):
        return None
    return {
        "decisions": decisions,
        "conclusion": selectors.conclusion_of(dossier),
        "may_view_sheet": may_view_sheet,
        "pending_item": selectors.pending_item(dossier) if dossier.status == "submitted" else None,
    }
