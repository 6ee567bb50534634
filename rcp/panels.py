"""What the rcp app adds to other apps' pages: the header link and the dossier page's RCP-FMG section."""

from __future__ import annotations

from people.models import Role
from prescriptions.folding import Fold

from . import rules
from .models import AgendaItem, Meeting
from .selectors import DECISIONS_FOLD


def belongs_to_an_rcp(user) -> bool:
    # The role, granted with every membership (people.services.add_to_rcp), costs no query on each page; the
    # page itself answers 404 to a user left with the role but no RCP.
    return user.has_role(Role.RCP_MEMBER)


# What the panel and the ``close`` requirement read, loaded with the dossier on its page (prescriptions.folding).
FOLDS = [
    DECISIONS_FOLD,
    Fold("rcp_conclusion", related=("recorded_by", "meeting")),
    Fold("rcp_agenda_items", related=("meeting__rcp",)),
]


def dossier_panel(request, dossier) -> dict | None:
    """The RCP decisions of the dossier and links to its sheet and minutes, for those who may see the dossier
    (the dossier page is already scoped); nothing for a draft nobody has prepared for the RCP yet."""
    decisions = list(dossier.rcp_decisions.all())
    may_view_sheet = rules.may_view_sheet.test(request.user, dossier)
    if not decisions and not (may_view_sheet and dossier.rcp_id and dossier.status != "draft"):
        return None
    return {
        "decisions": decisions,
        "conclusion": getattr(dossier, "rcp_conclusion", None),
        "may_view_sheet": may_view_sheet,
        "pending_item": _pending_item(dossier, decisions) if dossier.status == "submitted" else None,
    }


def _pending_item(dossier, decisions) -> AgendaItem | None:
    """``selectors.pending_item`` from what the page loaded: the earliest upstream meeting the dossier is on
    and that has not decided on it."""
    decided = {d.meeting_id for d in decisions}
    items = [
        item
        for item in dossier.rcp_agenda_items.all()
        if item.meeting.kind == Meeting.Kind.UPSTREAM and item.meeting_id not in decided
    ]
    return min(items, key=lambda i: (i.meeting.date, i.meeting.start_time, i.id), default=None)
