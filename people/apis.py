"""API tokens: obtained with a username and password, revoked by their holder."""

from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_login_failed
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import services
from .auth import confirmed_device, second_factor_required, verify_code
from .authentication import ApiTokenAuthentication


class CredentialsSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})
    otp = serializers.CharField(
        max_length=12,
        required=False,
        allow_blank=True,
        help_text="Le code à usage unique (TOTP) : obligatoire pour les comptes qui exigent une double "
        "authentification (coordination RCP, biologistes, audit, administration).",
    )


class IssuedTokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Le jeton en clair : affiché cette fois seulement.")
    expires_at = serializers.DateTimeField()


_ERRORS = inline_serializer(
    "TokenErrors",
    fields={
        "username": serializers.ListField(child=serializers.CharField(), required=False),
        "password": serializers.ListField(child=serializers.CharField(), required=False),
        "otp": serializers.ListField(child=serializers.CharField(), required=False),
        "non_field_errors": serializers.ListField(child=serializers.CharField(), required=False),
    },
)
_DETAIL = inline_serializer("TokenDetail", fields={"detail": serializers.CharField()})


class ApiTokenView(APIView):
    """POST: a new token for these credentials. DELETE: revoke the token this request carries."""

    authentication_classes = [ApiTokenAuthentication]

    def get_permissions(self):
        if self.request.method == "POST":
            return [permissions.AllowAny()]
        return [permissions.IsAuthenticated()]

    @extend_schema(
        request=CredentialsSerializer,
        responses={201: IssuedTokenSerializer, 400: _ERRORS, 401: _DETAIL, 429: _DETAIL},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        credentials = CredentialsSerializer(data=request.data)
        credentials.is_valid(raise_exception=True)
        # request= lets django-axes count the failure towards the account's lockout.
        user = authenticate(
            request=request._request,
            username=credentials.validated_data["username"],
            password=credentials.validated_data["password"],
        )
        if user is None:
            # Never says which of the two was wrong.
            raise serializers.ValidationError(
                {"non_field_errors": [_("Identifiant ou mot de passe incorrect.")]}
            )
        if second_factor_required(user):
            # A token is a session by other means: the roles that need a second factor to log in need it here.
            device = confirmed_device(user)
            if device is None:
                raise serializers.ValidationError(
                    {
                        "otp": [
                            _("Ce compte doit d'abord enregistrer une double authentification (Mon compte).")
                        ]
                    }
                )
            if not verify_code(device, credentials.validated_data.get("otp", "")):
                # A wrong code counts towards the lockout, as on the login page.
                user_login_failed.send(
                    sender=__name__,
                    credentials={"username": credentials.validated_data["username"]},
                    request=request._request,
                )
                raise serializers.ValidationError({"otp": [_("Code à usage unique manquant ou incorrect.")]})
        token, clear = services.issue_api_token(user=user)
        return Response(
            IssuedTokenSerializer({"token": clear, "expires_at": token.expires_at}).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(responses={204: None, 401: _DETAIL})
    def delete(self, request: Request) -> Response:
        services.revoke_api_tokens(tokens=[request.auth])
        return Response(status=status.HTTP_204_NO_CONTENT)
