"""Transitions through the API: ``POST /api/v1/dossiers/{reference}/transitions/{name}/``.

A transition that needs nothing but a reason (cancel, close, request_more_info…) goes straight to
``services.transition_dossier``. One that has its own screen in the interface (submitting with the RCP chosen,
the RCP's decision, sample reception, signing a report…) needs what that screen asks: its app registers the
body's serializer and the handler that calls its service, from ``AppConfig.ready()``, so this app never imports
the others (CONVENTIONS: dependencies point one way)::

    register_api_transition("receive", serializer=ReceptionSerializer, handler=receive_through_api)

``handler(*, dossier, actor, data, request)`` runs the app's service with the validated ``data``; it raises the
service's refusals, which ``refusal_response`` turns into 400/403/409 with their message. Apps whose services
raise refusals of their own class declare them with ``register_refusal``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers, status

from .services import TransitionConflict, TransitionNotPermitted, TransitionRefused, transition_dossier


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=10_000,
        help_text=_(
            "Le motif : obligatoire pour les actions qui en demandent un (annuler, ne pas retenir…)."
        ),
    )


def _transition_with_reason(*, dossier, actor, data: dict, request) -> None:
    transition_dossier(dossier=dossier, name=data["_name"], actor=actor, reason=data.get("reason", ""))


@dataclass(frozen=True)
class ApiTransition:
    serializer: type[serializers.Serializer]
    handler: Callable[..., Any]


_REGISTRY: dict[str, ApiTransition] = {}
DEFAULT = ApiTransition(ReasonSerializer, _transition_with_reason)


def register_api_transition(
    name: str, *, serializer: type[serializers.Serializer], handler: Callable[..., Any]
) -> None:
    _REGISTRY[name] = ApiTransition(serializer, handler)


def api_transition(name: str) -> ApiTransition:
    return _REGISTRY.get(name, DEFAULT)


def registered() -> dict[str, ApiTransition]:
    return dict(_REGISTRY)


# The refusals of the services, by class, and the HTTP status each answers. The most specific class first.
_REFUSALS: list[tuple[type[Exception], int]] = [
    (TransitionConflict, status.HTTP_409_CONFLICT),
    (TransitionNotPermitted, status.HTTP_403_FORBIDDEN),
    (TransitionRefused, status.HTTP_400_BAD_REQUEST),
    (PermissionDenied, status.HTTP_403_FORBIDDEN),
    (ValidationError, status.HTTP_400_BAD_REQUEST),
]


def register_refusal(exception: type[Exception], http_status: int = status.HTTP_400_BAD_REQUEST) -> None:
    """An app's own refusal (``RcpRefused``, ``LabActionRefused``…): a message for the client, never a 500."""
    _REFUSALS.insert(len(_REFUSALS) - 2, (exception, http_status))


def refusal_status(exc: Exception) -> int | None:
    return next((code for cls, code in _REFUSALS if isinstance(exc, cls)), None)


def refusal_body(exc: Exception) -> dict:
    """``{"detail": message}`` plus ``reasons`` (what is missing) when the refusal names them."""
    if isinstance(exc, ValidationError):
        messages = exc.messages
        body: dict[str, Any] = {"detail": " ".join(str(m) for m in messages)}
        if len(messages) > 1:
            body["reasons"] = [str(m) for m in messages]
        return body
    reasons = getattr(exc, "reasons", None) or []
    message = getattr(exc, "message", None) or (exc.args[0] if exc.args else str(exc))
    body = {"detail": str(message)}
    if reasons:
        body["reasons"] = [str(r) for r in reasons]
    return body
