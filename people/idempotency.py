"""``Idempotency-Key`` on the API's POSTs: a retried request never acts twice.

A client that may retry (a network error, a timeout) sends a key of its own choosing with the POST. The first
request with that key runs, and its answer is stored with the key *in the same transaction as what the request
wrote*: either both are committed or neither is. A second request with the key gets the stored answer (with
``Idempotent-Replayed: true``) and acts no more. Two requests with the same key at once: the second waits on the
key's unique index until the first commits, then replays its answer (or runs, if the first rolled back).

The key belongs to the credentials that sent it (a hash of the token or of the session): another client's key
is another key. Reusing a key for a different request (another path or body) is refused with 422. An answer is
kept ``IDEMPOTENCY_KEY_HOURS`` (24 by default); a server error (5xx) is not kept, so a retry runs again.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import IdempotentRequest

HEADER = "HTTP_IDEMPOTENCY_KEY"
MAX_KEY_LENGTH = 255


def _client(request) -> str | None:
    """Who is asking, as a hash: the token of ``Authorization``, else the session; None for an anonymous."""
    credentials = request.META.get("HTTP_AUTHORIZATION", "")
    if not credentials:
        session = getattr(request, "session", None)
        credentials = f"session:{session.session_key}" if session is not None and session.session_key else ""
    if not credentials:
        return None
    return hashlib.sha256(credentials.encode()).hexdigest()


def _body_hash(request) -> str:
    """The body's hash, to tell a retry from another request reusing the key. A body over Django's in-memory
    limit (an uploaded file) is not read here, where it would be refused: its length and type stand for it."""
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
        return hashlib.sha256(f"{length}:{request.META.get('CONTENT_TYPE', '')}".encode()).hexdigest()
    return hashlib.sha256(request.body).hexdigest()


def _refused(message: str, status: int) -> JsonResponse:
    return JsonResponse({"detail": message}, status=status)


def _replay(stored: IdempotentRequest) -> HttpResponse:
    response = HttpResponse(
        bytes(stored.content), status=stored.status_code, content_type=stored.content_type
    )
    response["Idempotent-Replayed"] = "true"
    return response


def purge_expired(*, now: dt.datetime | None = None) -> int:
    hours = getattr(settings, "IDEMPOTENCY_KEY_HOURS", 24)
    limit = (now or timezone.now()) - dt.timedelta(hours=hours)
    deleted, _rows = IdempotentRequest.objects.filter(created_at__lt=limit).delete()
    return deleted


class IdempotencyKeyMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        key = request.META.get(HEADER)
        if key is None or request.method != "POST" or not request.path.startswith("/api/"):
            return self.get_response(request)
        key = key.strip()
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            return _refused(
                _("En-tête Idempotency-Key invalide : de 1 à %(n)d caractères imprimables.")
                % {"n": MAX_KEY_LENGTH},
                400,
            )
        client = _client(request)
        if client is None:
            return self.get_response(request)  # refused by the API itself (401): nothing to remember
        body_hash = _body_hash(request)
        try:
            with transaction.atomic():
                return self._run_once(request, client, key, body_hash)
        except IntegrityError:
            # Another request with this key committed first (we waited on its row): replay its answer.
            pass
        stored = IdempotentRequest.objects.filter(client=client, key=key).first()
        if stored is None:
            return self.get_response(request)
        return self._answer(stored, request, body_hash)

    def _answer(self, stored: IdempotentRequest, request, body_hash: str) -> HttpResponse:
        if (stored.method, stored.path, stored.body_hash) != (request.method, request.path, body_hash):
            return _refused(
                _(
                    "Cette clé Idempotency-Key a déjà servi pour une autre requête : choisissez une clé "
                    "nouvelle pour chaque requête différente."
                ),
                422,
            )
        return _replay(stored)

    def _run_once(self, request, client: str, key: str, body_hash: str) -> HttpResponse:
        stored = IdempotentRequest.objects.filter(client=client, key=key).first()
        if stored is not None:
            return self._answer(stored, request, body_hash)
        # Inserted first: a concurrent request with the same key blocks on the unique index until we finish.
        record = IdempotentRequest.objects.create(
            client=client,
            key=key,
            method=request.method,
            path=request.path[:500],
            body_hash=body_hash,
            created_at=timezone.now(),
        )
        response = self.get_response(request)
        if response.status_code >= 500 or response.streaming:
            # Nothing of a failed request is kept (the view's writes are rolled back with the key): a retry runs.
            transaction.set_rollback(True)
            return response
        record.status_code = response.status_code
        record.content_type = response.get("Content-Type", "")
        record.content = bytes(response.content)
        record.save(update_fields=["status_code", "content_type", "content"])
        return response
