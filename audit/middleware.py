"""Records, after the response, every request to a URL that touches patient data (audit.registry).

Cost per recorded request: one query to find the dossier and its patients (none for a list page), then three to
append (lock and read the chain head, insert, move the head) — four at most, whatever the data. Requests to
other URLs cost nothing. Admin requests also open a context in which every model change is recorded with its
before and after values (audit.admin_trail)."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.urls import Resolver404, resolve

from . import admin_trail, services
from .models import Action, Source
from .registry import listing, route_for

DENIED_STATUSES = {401, 403, 404, 405}


def client_ip(request) -> str:
    """The client's address; behind AUDIT_TRUSTED_PROXIES reverse proxies, the one the nearest trusted proxy saw."""
    proxies = settings.AUDIT_TRUSTED_PROXIES
    if proxies:
        forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if p.strip()]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR", "")


class AuditMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            response = self.get_response(request)
        finally:
            admin_trail.leave(request)
        match = getattr(request, "resolver_match", None)
        if match is not None:
            route = route_for(match.view_name if match.url_name else None)
            if route is not None:
                self._record(request, response, match, route)
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.resolver_match and "admin" in request.resolver_match.namespaces:
            admin_trail.enter(request, ip=client_ip(request))
        return None

    def _record(self, request, response, match, route) -> None:
        user = getattr(request, "user", None)
        authenticated = bool(user and user.is_authenticated)
        status = response.status_code
        is_admin = "admin" in match.namespaces
        if status in DENIED_STATUSES or not authenticated:
            action = Action.DENIED
        elif request.method in ("GET", "HEAD", "OPTIONS"):
            action = route.read
        else:
            action = route.write
        target = getattr(request, "audit_target", None) or route.resolve(match.kwargs)
        if not target.references and request.method == "POST" and response.status_code in (301, 302, 303):
            # A page that creates (a new prescription) names its object only in where it sends the user next.
            target = _redirect_target(response) or target
        references = sorted(target.references)
        detail = {"dossiers": references} if len(references) > 1 else {}
        services.record(
            source=Source.ADMIN
            if is_admin
            else Source.API
            if match.url_name and _is_api(match)
            else Source.WEB,
            action=action,
            actor=user if authenticated else None,
            ip=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
            url_name=match.view_name,
            path=request.path,
            method=request.method,
            status_code=status,
            object_type=target.object_type,
            object_id=target.object_id,
            dossier_reference=references[0] if len(references) == 1 else "",
            patient_ids=target.patient_ids,
            detail=detail,
        )


def _redirect_target(response):
    try:
        match = resolve(urlsplit(response["Location"]).path)
    except (KeyError, Resolver404):
        return None
    route = route_for(match.view_name if match.url_name else None)
    if route is None or route.resolve is listing:
        return None
    return route.resolve(match.kwargs)


def _is_api(match) -> bool:
    return match.route.startswith(("api/", "fhir/"))
