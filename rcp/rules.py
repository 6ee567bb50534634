"""Who may do what in the RCP-FMG: one source of truth for the views, the services and the admin.

Deciding on a dossier is the state machine's own rule (``prescriptions.rules.rcp_decision``: coordinator or
deputy of the dossier's RCP, neither its prescriber nor who entered it), tested directly so no superuser
shortcut bypasses the separation of duty."""

import rules

from people.models import RcpMembership
from people.rules import is_administrator
from prescriptions.rules import (
    TRANSITION_RULES,
    assists_dossier_prescriber,
    decides_for_dossier_rcp,
    identities_hidden,
    is_dossier_enterer,
    is_dossier_prescriber,
)

DECIDERS = (RcpMembership.Function.COORDINATOR, RcpMembership.Function.DEPUTY)


@rules.predicate
def is_member_of_rcp(user, rcp) -> bool:
    if not (rcp and user.is_authenticated):
        return False
    return RcpMembership.objects.filter(user=user, rcp=rcp).exists()


@rules.predicate
def manages_rcp(user, rcp) -> bool:
    """Coordinator or deputy of ``rcp``: schedules its meetings, builds agendas, records attendance."""
    if not (rcp and user.is_authenticated):
        return False
    return RcpMembership.objects.filter(user=user, rcp=rcp, function__in=DECIDERS).exists()


@rules.predicate
def is_member_of_meeting_rcp(user, meeting) -> bool:
    return bool(meeting) and is_member_of_rcp.test(user, meeting.rcp)


@rules.predicate
def manages_meeting(user, meeting) -> bool:
    return bool(meeting) and manages_rcp.test(user, meeting.rcp)


@rules.predicate
def is_member_of_dossier_rcp(user, dossier) -> bool:
    if not (dossier and dossier.rcp_id and user.is_authenticated):
        return False
    # Read once per request with the user's other memberships (people.models.User._memo).
    return user.rcp_function(dossier.rcp_id) is not None


# The prescribing side prepares the RCP sheet: the prescriber, who entered the dossier, their assistants.
may_prepare_sheet = is_dossier_prescriber | is_dossier_enterer | assists_dossier_prescriber
# Reviewers (any member of the dossier's RCP) read the sheet and record corrections or additions.
may_review_sheet = is_member_of_dossier_rcp
# The sheet names the persons: never to the laboratory of a withdrawn dossier, even through an RCP membership.
may_view_sheet = (may_review_sheet | may_prepare_sheet | is_administrator) & ~identities_hidden
# The dossier's minutes name the index case: whoever sees the dossier with its identities.
may_download_dossier_minutes = ~identities_hidden
# Validate, reject, ask for more, postpone: the same rule as the state machine's decisions.
may_record_decision = TRANSITION_RULES["validate"]
# The part of that rule that is not membership: neither the dossier's prescriber nor who entered it.
not_author = ~is_dossier_prescriber & ~is_dossier_enterer
may_correct_decision = decides_for_dossier_rcp
may_record_conclusion = decides_for_dossier_rcp

rules.add_perm("rcp.view_meeting", is_member_of_meeting_rcp)
rules.add_perm("rcp.manage_meeting", manages_meeting)
rules.add_perm("rcp.record_decision", may_record_decision)
