"""The API's own tokens: ``Authorization: Token <token>``, looked up by hash, refused once expired or revoked."""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from . import services

KEYWORD = "Token"


class ApiTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(_("En-tête Authorization invalide : « Token <jeton> »."))
        try:
            clear = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(_("Jeton invalide.")) from None
        token = services.find_api_token(clear)
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("Jeton invalide."))
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed(_("Ce jeton a été révoqué."))
        if token.expires_at <= timezone.now():
            raise exceptions.AuthenticationFailed(_("Ce jeton a expiré : demandez-en un nouveau."))
        services.record_api_token_use(token=token)
        # As for a session (people.middleware): this user object lives one request, its memberships are read
        # once however many rules and selectors ask.
        token.user.memoise_memberships = True
        return token.user, token

    def authenticate_header(self, request) -> str:
        # Makes DRF answer 401 (with this challenge) rather than 403 to a request without valid credentials.
        return KEYWORD


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "people.authentication.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "« Token <jeton> », le jeton obtenu par POST /api/v1/auth/token/.",
        }
