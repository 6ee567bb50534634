"""Every change made through the admin, to any model (the project's, Django's, third parties'), recorded with
its before and after values.

The audit middleware opens an admin context for requests to the admin site; model signals inside that context
are recorded. Secrets (password hashes, OTP keys, tokens) are redacted; patients' identity fields are recorded
as changed, never with their values (the trail itself is sensitive: identities are joined at query time)."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass

from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save

from .models import Action, Source

REDACTED = "[secret]"
MASKED = "[identité masquée]"
SECRET_WORDS = ("password", "secret", "token", "otp")
SECRET_NAMES = {"key", "bin_key", "session_key", "session_data"}
# Identity fields of patients and relatives: the trail says they changed, not to what.
IDENTITY_FIELDS = {
    "prescriptions.patient": {"birth_name", "used_name", "first_names", "date_of_birth", "ins"},
    "consent.consentrecord": {"parent_signatory_1", "parent_signatory_2", "relative_signatory"},
    "prescriptions.dossierdocument": {"original_name"},
}
# Bookkeeping the admin writes itself, and the trail's own tables.
IGNORED = {"admin.logentry", "sessions.session", "audit.auditentry", "audit.chainhead", "audit.checkpoint"}


@dataclass
class AdminContext:
    user: object
    ip: str
    user_agent: str
    path: str
    url_name: str


_context: contextvars.ContextVar[AdminContext | None] = contextvars.ContextVar("audit_admin", default=None)


def enter(request, *, ip: str) -> None:
    match = request.resolver_match
    request._audit_admin_token = _context.set(
        AdminContext(
            user=request.user,
            ip=ip,
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
            path=request.path,
            url_name=match.view_name if match and match.url_name else "",
        )
    )


def leave(request) -> None:
    token = getattr(request, "_audit_admin_token", None)
    if token is not None:
        _context.reset(token)
        del request._audit_admin_token


def _secret(name: str) -> bool:
    lowered = name.lower()
    return lowered in SECRET_NAMES or any(word in lowered for word in SECRET_WORDS)


def snapshot(model, values: dict) -> dict:
    label = model._meta.label_lower
    masked = IDENTITY_FIELDS.get(label, set())
    out = {}
    for f in model._meta.concrete_fields:
        if f.attname not in values:
            continue
        value = values[f.attname]
        if _secret(f.name):
            value = REDACTED if value not in (None, "") else value
        elif f.name in masked:
            value = MASKED if value not in (None, "") else value
        elif value is not None and not isinstance(value, (str, int, float, bool, list, dict)):
            value = str(value)
        out[f.name] = value
    return out


def _instance_values(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def _watched(sender) -> AdminContext | None:
    ctx = _context.get()
    if ctx is None or sender._meta.label_lower in IGNORED:
        return None
    return ctx


def _record(ctx: AdminContext, instance, action: str, detail: dict) -> None:
    from . import services
    from .registry import target_for_model

    model = type(instance)
    target = target_for_model(model, instance.pk)
    references = sorted(target.references)
    if len(references) > 1:
        detail["dossiers"] = references
    services.record(
        source=Source.ADMIN,
        action=action,
        actor=ctx.user,
        ip=ctx.ip,
        user_agent=ctx.user_agent,
        url_name=ctx.url_name,
        path=ctx.path,
        object_type=model._meta.label_lower,
        object_id=instance.pk,
        dossier_reference=references[0] if len(references) == 1 else "",
        patient_ids=target.patient_ids,
        detail={"model": model._meta.label_lower, **detail},
    )


def _pre_save(sender, instance, raw=False, **kwargs):
    if raw or not _watched(sender) or instance._state.adding or instance.pk is None:
        return
    names = [f.attname for f in sender._meta.concrete_fields]
    instance._audit_before = sender._base_manager.filter(pk=instance.pk).values(*names).first()


def _post_save(sender, instance, created, raw=False, **kwargs):
    ctx = _watched(sender)
    if raw or ctx is None:
        return
    values = _instance_values(instance)
    if created:
        _record(ctx, instance, Action.ADMIN_ADD, {"after": snapshot(sender, values)})
        return
    raw_before = instance.__dict__.pop("_audit_before", None) or {}
    # Compared before masking: a masked identity field that changed must still show as changed.
    changed = {
        attname
        for attname, value in values.items()
        if raw_before.get(attname) != value and str(raw_before.get(attname)) != str(value)
    }
    if not changed:
        return
    before = snapshot(sender, {k: v for k, v in raw_before.items() if k in changed})
    after = snapshot(sender, {k: v for k, v in values.items() if k in changed})
    _record(ctx, instance, Action.ADMIN_EDIT, {"before": before, "after": after})


def _pre_delete(sender, instance, **kwargs):
    if _watched(sender):
        instance._audit_before = snapshot(sender, _instance_values(instance))


def _post_delete(sender, instance, **kwargs):
    ctx = _watched(sender)
    if ctx is not None:
        before = getattr(instance, "_audit_before", None) or snapshot(sender, _instance_values(instance))
        _record(ctx, instance, Action.ADMIN_DELETE, {"before": before})


def _m2m_field(instance, through) -> str:
    for f in instance._meta.many_to_many:
        if f.remote_field.through is through:
            return f.name
    for rel in instance._meta.related_objects:
        if rel.many_to_many and rel.through is through:
            return rel.get_accessor_name()
    return through._meta.label_lower


def _m2m_changed(sender, instance, action, reverse, model, pk_set, **kwargs):
    ctx = _context.get()
    if ctx is None or type(instance)._meta.label_lower in IGNORED:
        return
    name = _m2m_field(instance, sender)
    manager = getattr(instance, name, None)
    if action.startswith("pre_"):
        current = sorted(manager.values_list("pk", flat=True)) if manager is not None else []
        instance.__dict__.setdefault("_audit_m2m", {})[name] = current
        return
    before = instance.__dict__.get("_audit_m2m", {}).pop(name, [])
    after = sorted(manager.values_list("pk", flat=True)) if manager is not None else []
    if before == after:
        return
    _record(
        ctx, instance, Action.ADMIN_M2M, {"field": name, "before": {name: before}, "after": {name: after}}
    )


def connect() -> None:
    pre_save.connect(_pre_save, dispatch_uid="audit_admin_pre_save")
    post_save.connect(_post_save, dispatch_uid="audit_admin_post_save")
    pre_delete.connect(_pre_delete, dispatch_uid="audit_admin_pre_delete")
    post_delete.connect(_post_delete, dispatch_uid="audit_admin_post_delete")
    m2m_changed.connect(_m2m_changed, dispatch_uid="audit_admin_m2m")
