"""Writes on people and organisations: reference data loading, role grants, API tokens."""

import hashlib
import secrets
from datetime import timedelta
from pathlib import Path

import yaml
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from .models import (
    ApiToken,
    Department,
    Laboratory,
    LaboratoryMembership,
    RcpBody,
    RcpMembership,
    Region,
    Role,
    Territory,
    User,
)

DATA_DIR = Path(__file__).resolve().parent / "data"


@transaction.atomic
def load_places(*, path: Path = DATA_DIR / "places.yaml") -> int:
    """Create or update regions and departments from the data file. Returns the number of departments."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    count = 0
    for region_data in data["regions"]:
        region, _ = Region.objects.update_or_create(
            code=region_data["code"],
            defaults={"name": region_data["name"], "overseas": bool(region_data.get("overseas", False))},
        )
        for dep in region_data["departments"]:
            Department.objects.update_or_create(
                code=dep["code"], defaults={"name": dep["name"], "region": region}
            )
            count += 1
    return count


@transaction.atomic
def load_laboratories(*, path: Path = DATA_DIR / "laboratories.yaml") -> int:
    """Create the laboratories and, for regions not yet assigned, their territories.

    An existing territory is left as it is: administrators may have reassigned it on purpose."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    created = 0
    for lab_data in data["laboratories"]:
        lab, _ = Laboratory.objects.update_or_create(
            code=lab_data["code"],
            defaults={
                "name": lab_data["name"],
                "city": lab_data["city"],
                "eprescription_tool": lab_data.get("eprescription_tool", ""),
            },
        )
        for entry in lab_data["regions"]:
            _, was_created = Territory.objects.get_or_create(
                region=Region.objects.get(code=entry["code"]),
                defaults={
                    "laboratory": lab,
                    "disputed": bool(entry.get("disputed", False)),
                    "note": entry.get("note", ""),
                },
            )
            created += was_created
    return created


def grant_role(*, user: User, role: Role | str) -> None:
    user.groups.add(Group.objects.get(name=Role(role).value))
    user.__dict__.pop("role_names", None)  # the cached roles are stale now


@transaction.atomic
def add_to_laboratory(*, user: User, laboratory: Laboratory, function: str) -> LaboratoryMembership:
    membership, _ = LaboratoryMembership.objects.update_or_create(
        user=user, laboratory=laboratory, defaults={"function": function}
    )
    grant_role(user=user, role=Role.LABORATORY_STAFF)
    if function == LaboratoryMembership.Function.BIOLOGIST:
        grant_role(user=user, role=Role.BIOLOGIST)
    return membership


@transaction.atomic
def add_to_rcp(*, user: User, rcp: RcpBody, function: str) -> RcpMembership:
    membership, _ = RcpMembership.objects.update_or_create(
        user=user, rcp=rcp, defaults={"function": function}
    )
    grant_role(user=user, role=Role.RCP_MEMBER)
    return membership


def _hash_api_token(clear: str) -> str:
    return hashlib.sha256(clear.encode()).hexdigest()


def issue_api_token(*, user: User, ttl: timedelta | None = None) -> tuple[ApiToken, str]:
    """A new API token for ``user``, valid ``ttl`` (API_TOKEN_TTL_HOURS by default). Returns the token and its
    clear value, which is never stored and cannot be shown again."""
    clear = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        prefix=clear[:8],
        key_hash=_hash_api_token(clear),
        expires_at=timezone.now() + (ttl or timedelta(hours=settings.API_TOKEN_TTL_HOURS)),
    )
    return token, clear


def find_api_token(clear: str) -> ApiToken | None:
    """The token whose clear value is ``clear``, revoked or expired ones included (the caller says why it
    refuses), or None."""
    # get() on the unique hash: no ORDER BY (``first()`` sorted by the model's ordering on every API call).
    try:
        return ApiToken.objects.select_related("user").get(key_hash=_hash_api_token(clear))
    except ApiToken.DoesNotExist:
        return None


def record_api_token_use(*, token: ApiToken) -> None:
    # One write a minute at most: a client polling the API must not turn every read into a write.
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        token.last_used_at = now
        token.save(update_fields=["last_used_at"])


def revoke_api_tokens(*, tokens) -> int:
    """Revoke the given tokens (a queryset or a list) that are not revoked yet. Returns how many were."""
    pks = [t.pk for t in tokens]
    return ApiToken.objects.filter(pk__in=pks, revoked_at__isnull=True).update(revoked_at=timezone.now())


# --- Laboratories' machine accounts ----------------------------------------------------------------------


def machine_username(laboratory: Laboratory) -> str:
    return f"machine_{laboratory.code}"


@transaction.atomic
def create_machine_account(*, laboratory: Laboratory) -> User:
    """The laboratory's machine account (its LIMS calling the API), created if it does not exist yet: a user
    flagged ``is_machine_account``, with no usable password, staff of ``laboratory`` only (so the selectors give
    it its laboratory's dossiers, and ``prescriptions.rules`` its laboratory actions). Idempotent."""
    user, created = User.objects.get_or_create(
        username=machine_username(laboratory),
        defaults={
            "is_machine_account": True,
            "first_name": "Système",
            "last_name": laboratory.name,
            "password": "!",  # replaced below by Django's own unusable password
        },
    )
    if not user.is_machine_account:
        raise ValueError(f"{user.username} exists and is not a machine account")
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    add_to_laboratory(user=user, laboratory=laboratory, function=LaboratoryMembership.Function.STAFF)
    return user


def issue_machine_token(*, laboratory: Laboratory) -> tuple[ApiToken, str]:
    """A new token for the laboratory's machine account (created if needed), valid MACHINE_API_TOKEN_TTL_DAYS.
    The clear value is returned once and never stored."""
    user = create_machine_account(laboratory=laboratory)
    return issue_api_token(user=user, ttl=timedelta(days=settings.MACHINE_API_TOKEN_TTL_DAYS))


def revoke_machine_tokens(*, laboratory: Laboratory) -> int:
    """Revoke every usable token of the laboratory's machine account. Returns how many were."""
    tokens = ApiToken.objects.filter(
        user__is_machine_account=True, user__username=machine_username(laboratory)
    ).usable()
    return revoke_api_tokens(tokens=tokens)
