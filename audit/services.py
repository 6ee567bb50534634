"""Appending to the trail, verifying it, purging it past its retention."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from . import guard
from .models import GENESIS_HASH, AuditEntry, ChainHead, Checkpoint

HASHED_FIELDS = (
    "seq",
    "at",
    "actor_id",
    "actor_username",
    "source",
    "ip",
    "user_agent",
    "action",
    "url_name",
    "path",
    "method",
    "status_code",
    "object_type",
    "object_id",
    "dossier_reference",
    "patient_ids",
    "detail",
    "prev_hash",
)
USER_AGENT_MAX = 200


def _jsonable(value):
    return json.loads(json.dumps(value, default=str, sort_keys=True))


def canonical(values: dict) -> bytes:
    """The bytes hashed for an entry: its fields in a fixed order, the date in UTC to the microsecond."""
    data = {}
    for name in HASHED_FIELDS:
        value = values[name]
        if name == "at":
            value = value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        data[name] = value
    return json.dumps(data, sort_keys=True, ensure_ascii=True, separators=(",", ":")).encode()


def entry_hash(values: dict) -> str:
    """HMAC-SHA256 under AUDIT_CHAIN_KEY: whoever can write to the database but does not hold the key cannot
    recompute a chain they rewrote."""
    return hmac.new(settings.AUDIT_CHAIN_KEY.encode(), canonical(values), hashlib.sha256).hexdigest()


def encode_patient_ids(ids: Iterable[int | None]) -> str:
    clean = sorted({int(i) for i in ids if i is not None})
    return f",{','.join(str(i) for i in clean)}," if clean else ""


def record(
    *,
    source: str,
    action: str,
    actor=None,
    ip: str = "",
    user_agent: str = "",
    url_name: str = "",
    path: str = "",
    method: str = "",
    status_code: int | None = None,
    object_type: str = "",
    object_id: str | int = "",
    dossier_reference: str = "",
    patient_ids: Iterable[int] = (),
    detail: dict | None = None,
    at: dt.datetime | None = None,
) -> AuditEntry:
    """Append one entry. The chain head is updated first, inside the transaction: concurrent appends wait for
    each other there (a row lock on PostgreSQL, the write lock on SQLite), so the chain never forks.

    ``at`` is for tests and imports only; the portal always records the present."""
    actor = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    values = {
        "at": at or timezone.now(),
        "actor_id": actor.pk if actor else None,
        "actor_username": actor.get_username() if actor else "",
        "source": source,
        "ip": (ip or "")[:45],
        "user_agent": (user_agent or "")[:USER_AGENT_MAX],
        "action": action,
        "url_name": (url_name or "")[:120],
        "path": (path or "").split("?", 1)[0][:500],
        "method": method or "",
        "status_code": status_code,
        "object_type": object_type or "",
        "object_id": str(object_id or "")[:64],
        "dossier_reference": dossier_reference or "",
        "patient_ids": encode_patient_ids(patient_ids),
        "detail": _jsonable(detail or {}),
    }
    with transaction.atomic(savepoint=False):
        with connection.cursor() as cursor:
            # One statement takes the lock and the previous link (RETURNING: PostgreSQL, SQLite >= 3.35).
            cursor.execute("UPDATE audit_chainhead SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
            row = cursor.fetchone()
        if row is None:
            raise RuntimeError("The audit chain head is missing (migration audit.0002 not applied).")
        values["seq"], values["prev_hash"] = row
        values["hash"] = entry_hash(values)
        entry = AuditEntry.objects.create(**values)
        ChainHead.objects.filter(pk=1).update(hash=values["hash"])
    return entry


def record_from_signal(sender, *, source, action, name, dossier_ids, detail, patient_ids=None, **kwargs):
    """Receiver of ``pfmg.trail.patient_data_accessed`` (commands and tasks of the apps holding patient data)."""
    from prescriptions.models import DossierPerson

    references: set[str] = set()
    patients: set[int] = set(patient_ids or ())
    if dossier_ids:
        for reference, patient_id in DossierPerson.objects.filter(dossier_id__in=dossier_ids).values_list(
            "dossier__reference", "patient_id"
        ):
            references.add(reference)
            if patient_ids is None:
                patients.add(patient_id)
    detail = dict(detail)
    if len(references) > 1:
        detail["dossiers"] = sorted(references)
    return record(
        source=source,
        action=action,
        url_name=name,
        object_type="command" if source == "command" else "task",
        object_id=name,
        dossier_reference=next(iter(references)) if len(references) == 1 else "",
        patient_ids=patients,
        detail=detail,
    )


# --- Verification ---------------------------------------------------------------------------------------


@dataclass
class Verification:
    ok: bool
    checked: int
    message: str
    first_bad_seq: int | None = None


def verify() -> Verification:
    """Walk the chain from the last purge checkpoint (or the start) and name the first broken link."""
    anchor = Checkpoint.objects.order_by("-last_seq").first()
    expected_prev = anchor.last_hash if anchor else GENESIS_HASH
    expected_seq = anchor.last_seq + 1 if anchor else 1
    checked = 0
    fields = ["hash", *HASHED_FIELDS]
    rows = AuditEntry.objects.filter(seq__gte=expected_seq).order_by("seq").values(*fields)
    for row in rows.iterator(chunk_size=2000):
        if row["seq"] != expected_seq:
            return Verification(
                False,
                checked,
                f"Entry #{expected_seq} is missing (the chain jumps from #{expected_seq - 1} to #{row['seq']}).",
                expected_seq,
            )
        if row["prev_hash"] != expected_prev:
            return Verification(
                False,
                checked,
                f"Entry #{row['seq']} is out of chain: its previous hash does not match entry #{expected_seq - 1}.",
                row["seq"],
            )
        if entry_hash(row) != row["hash"]:
            return Verification(
                False,
                checked,
                f"Entry #{row['seq']} was altered: its content no longer matches its hash.",
                row["seq"],
            )
        expected_prev = row["hash"]
        expected_seq += 1
        checked += 1
    head = ChainHead.objects.filter(pk=1).values("seq", "hash").first()
    if head is None:
        return Verification(False, checked, "The chain head is missing: appends are impossible.", None)
    if head["seq"] != expected_seq - 1:
        return Verification(
            False,
            checked,
            f"Entry #{expected_seq} is missing: the chain ends at #{expected_seq - 1}, its head says #{head['seq']}.",
            expected_seq,
        )
    if head["seq"] and head["hash"] != expected_prev:
        return Verification(False, checked, "The last entry does not match the chain head.", head["seq"])
    start = f"checkpoint #{anchor.last_seq}" if anchor else "the start"
    return Verification(True, checked, f"{checked} entries verified from {start}.")


# --- Retention ------------------------------------------------------------------------------------------


def retention_days() -> int:
    days = settings.AUDIT_RETENTION_DAYS
    if days < guard.MINIMUM_RETENTION_DAYS:
        raise ValueError(f"AUDIT_RETENTION_DAYS must be at least {guard.MINIMUM_RETENTION_DAYS}.")
    return days


@transaction.atomic
def purge(*, now: dt.datetime | None = None) -> Checkpoint | None:
    """Delete the entries older than the retention and leave a checkpoint on the last one deleted, so that
    the remaining chain still verifies. Nothing to delete: no checkpoint."""
    cutoff = (now or timezone.now()) - dt.timedelta(days=retention_days())
    with connection.cursor() as cursor:
        # Appends wait while the chain's start moves.
        cursor.execute("UPDATE audit_chainhead SET seq = seq WHERE id = 1")
    first_kept = (
        AuditEntry.objects.filter(at__gte=cutoff).order_by("seq").values_list("seq", flat=True).first()
    )
    doomed = AuditEntry.objects.filter(at__lt=cutoff)
    if first_kept is not None:
        doomed = doomed.filter(seq__lt=first_kept)
    last = doomed.order_by("-seq").values("seq", "hash").first()
    if last is None:
        return None
    with guard.purge_floor(cutoff), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditentry WHERE seq <= %s", [last["seq"]])
        deleted = cursor.rowcount
    return Checkpoint.objects.create(
        purged_before=cutoff, last_seq=last["seq"], last_hash=last["hash"], deleted=deleted
    )
