"""Who a user is: role predicates (django-rules), shared by views, the API, the admin and the state machine."""

import rules

from .models import Role


def has_role(role: Role) -> rules.Predicate:
    @rules.predicate(name=f"has_role:{role.value}")
    def _has_role(user) -> bool:
        return bool(user and user.is_authenticated and user.has_role(role.value))

    return _has_role


is_prescriber = has_role(Role.PRESCRIBER)
is_prescription_assistant = has_role(Role.PRESCRIPTION_ASSISTANT)
is_genetic_counsellor = has_role(Role.GENETIC_COUNSELLOR)
is_rcp_member = has_role(Role.RCP_MEMBER)
is_laboratory_staff = has_role(Role.LABORATORY_STAFF)
is_biologist = has_role(Role.BIOLOGIST)
is_national_coordination = has_role(Role.NATIONAL_COORDINATION)


@rules.predicate
def is_administrator(user) -> bool:
    return bool(
        user and user.is_authenticated and (user.is_superuser or user.has_role(Role.ADMINISTRATOR.value))
    )
