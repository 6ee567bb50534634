"""Log in with Pro Santé Connect (PSC), the OpenID Connect identity provider of French health professionals.

The portal is a relying party (mozilla-django-oidc, configured in settings from the PSC_* variables). A PSC
identity never creates an account: the national identifier it carries (``SubjectNameID``, "8" followed by the
RPPS number) must match the RPPS of an existing, active user, or the login is refused. PSC authenticates with a
CPS card or the e-CPS app, so a PSC login counts as a strong (two-factor) authentication for the session.
"""

import logging
import re
from urllib.parse import urlencode

import jwt
import requests
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import SuspiciousOperation
from django.http import Http404
from django.shortcuts import redirect, resolve_url
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
)

from .auth import RefusesMachineAccounts

logger = logging.getLogger(__name__)

AUTH_METHOD = "psc"

# What the login page says. The same words whether the RPPS is unknown or its account inactive: the page must
# not tell which accounts exist.
NO_RPPS = _(
    "Pro Santé Connect n'a pas transmis de numéro RPPS : la connexion est refusée. "
    "Connectez-vous avec votre identifiant du portail."
)
NO_ACCOUNT = _(
    "Votre identité Pro Santé Connect ne correspond à aucun compte actif du portail : la connexion est refusée. "
    "Demandez à l'administrateur du portail d'enregistrer votre numéro RPPS sur votre compte."
)
WEAK_AUTHENTICATION = _(
    "Pro Santé Connect n'a pas confirmé une authentification forte (carte CPS ou e-CPS) : la connexion est refusée."
)
FAILED = _("La connexion avec Pro Santé Connect n'a pas abouti. Veuillez réessayer.")

_REFUSAL = "_psc_refusal"
_RPPS_NATIONAL_ID = re.compile(r"8(\d{11})")


def rpps_from_national_id(value) -> str | None:
    """The RPPS number inside a national health-professional identifier, or None for anything else (an ADELI
    identifier starts with 0: such professionals have no RPPS to match)."""
    match = _RPPS_NATIONAL_ID.fullmatch(value) if isinstance(value, str) else None
    return match.group(1) if match else None


class ProSanteConnectBackend(RefusesMachineAccounts, OIDCAuthenticationBackend):
    """Authenticates the user PSC vouches for, matched by RPPS to an existing, active account; never creates one.

    A refusal leaves its reason on the request for the callback view to show."""

    def authenticate(self, request, **kwargs):
        if request is None or "code" not in request.GET:
            return None  # a password login: not ours
        self.request = request
        try:
            return super().authenticate(request, **kwargs)
        except (requests.RequestException, SuspiciousOperation, jwt.PyJWTError) as exc:
            # A provider down, a code replayed, a token that does not verify: the user can only retry.
            logger.warning("Pro Santé Connect login failed: %s: %s", exc.__class__.__name__, exc)
            return self._refuse(FAILED)

    def get_or_create_user(self, access_token, id_token, payload):
        # mozilla-django-oidc checks the signature, expiry and nonce; not the audience, issuer nor level.
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.OIDC_RP_CLIENT_ID not in audiences:
            return self._refuse(FAILED, "ID token for another audience: %s", audience)
        if settings.PSC_ISSUER and payload.get("iss") != settings.PSC_ISSUER:
            return self._refuse(FAILED, "ID token from another issuer: %s", payload.get("iss"))
        required_acr = settings.PSC_ACR_VALUES.split()
        if required_acr and payload.get("acr") not in required_acr:
            return self._refuse(
                WEAK_AUTHENTICATION, "ID token acr %r, required %s", payload.get("acr"), required_acr
            )

        claims = self.get_userinfo(access_token, id_token, payload)
        if claims.get("sub") != payload.get("sub"):
            # OpenID Connect Core 5.3.2: userinfo about someone else must not be used.
            return self._refuse(FAILED, "userinfo subject differs from the ID token's")
        rpps = rpps_from_national_id(claims.get(settings.PSC_NATIONAL_ID_CLAIM))
        if rpps is None:
            return self._refuse(NO_RPPS, "no RPPS in %s", settings.PSC_NATIONAL_ID_CLAIM)
        user = self.UserModel._default_manager.filter(rpps=rpps).first()
        if user is None or not self.user_can_authenticate(user):
            return self._refuse(NO_ACCOUNT, "no active account with RPPS %s", rpps)
        return user

    def create_user(self, claims):
        raise SuspiciousOperation("Pro Santé Connect never creates an account")

    def get_user(self, user_id):
        # Unlike ModelBackend, mozilla-django-oidc's would keep a deactivated user's session alive.
        user = super().get_user(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None

    def _refuse(self, message, log_message=None, *args):
        if log_message:
            logger.warning("Pro Santé Connect login refused: " + log_message, *args)
        if not hasattr(self.request, _REFUSAL):
            setattr(self.request, _REFUSAL, message)
        return None


class _OnlyWhenConfigured:
    def dispatch(self, request, *args, **kwargs):
        if not settings.PSC_ENABLED:
            raise Http404
        return super().dispatch(request, *args, **kwargs)


class AuthenticateView(_OnlyWhenConfigured, OIDCAuthenticationRequestView):
    """Sends the browser to PSC (scopes, acr_values, state, nonce and PKCE challenge)."""

    def get_extra_params(self, request):
        params = dict(super().get_extra_params(request))
        if request.user.is_authenticated:
            # A re-authentication (before signing): PSC must ask for the card again, not reuse its own session,
            # or the fresh strong authentication recorded at the callback would not be fresh.
            params["prompt"] = "login"
        return params


class CallbackView(_OnlyWhenConfigured, OIDCAuthenticationCallbackView):
    """PSC's answer: logs the matched user in, or goes back to the login page saying why not."""

    def get(self, request):
        try:
            return super().get(request)
        except SuspiciousOperation as exc:  # an unknown state: a replayed or stale callback
            logger.warning("Pro Santé Connect callback refused: %s", exc)
            return self.login_failure()

    def login_success(self):
        response = super().login_success()
        # The contract with signing (people.auth): how the session was authenticated, and when last strongly.
        self.request.session["pfmg_auth_method"] = AUTH_METHOD
        self.request.session["pfmg_strong_auth_at"] = timezone.now().isoformat()
        return response

    def login_failure(self):
        messages.error(self.request, getattr(self.request, _REFUSAL, FAILED))
        return redirect(settings.LOGIN_URL)


def provider_logout_url(request) -> str:
    """Where logging out sends the browser (OIDC_OP_LOGOUT_URL_METHOD): PSC's end-session endpoint for a PSC
    session, which comes back to the portal's login page; the login page otherwise."""
    back = resolve_url(settings.LOGOUT_REDIRECT_URL)
    id_token = request.session.get("oidc_id_token")
    endpoint = settings.PSC_END_SESSION_ENDPOINT
    if not (endpoint and id_token and request.session.get("pfmg_auth_method") == AUTH_METHOD):
        return back
    params = {
        "id_token_hint": id_token,
        "client_id": settings.OIDC_RP_CLIENT_ID,
        "post_logout_redirect_uri": request.build_absolute_uri(back),
    }
    return f"{endpoint}?{urlencode(params)}"
