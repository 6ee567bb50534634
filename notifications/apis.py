"""The user's own notifications through the API: the inbox, newest first by cursor, and marking them read.

Only the user's own: another user's notification is never listed, and marking it read changes nothing (its id is
ignored, as the inbox page ignores it)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from pfmg.pagination import keyset_page

from . import services
from .models import Notification

API_PAGE_SIZE = 50
ORDER = ("-created_at", "-pk")  # the inbox's: served by the index (recipient, created_at, id)


class NotificationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    message = serializers.CharField()
    dossier = serializers.CharField(source="dossier.reference", help_text=_lazy("La référence du dossier."))
    transition = serializers.CharField(
        source="event.transition",
        allow_null=True,
        default=None,
        help_text=_lazy("L'action qui a changé le statut du dossier (null pour une relance)."),
    )
    created_at = serializers.DateTimeField()
    read_at = serializers.DateTimeField(allow_null=True)


@extend_schema_serializer(many=False)  # one document, not a list of them
class NotificationPageSerializer(serializers.Serializer):
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    unread_count = serializers.IntegerField(help_text=_lazy("Les notifications non lues de l'utilisateur."))
    results = NotificationSerializer(many=True)


class MarkReadSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        max_length=1000,
        help_text=_lazy(
            "Les notifications à marquer comme lues (celles d'un autre utilisateur sont ignorées)."
        ),
    )
    all = serializers.BooleanField(
        required=False, default=False, help_text=_lazy("Marquer comme lues toutes ses notifications.")
    )

    def validate(self, data: dict) -> dict:
        if data.get("all") == ("ids" in data):
            raise ValidationError(
                _("Indiquez soit les notifications à marquer comme lues (« ids »), soit « all »."),
                code="ids_or_all",
            )
        return data


class MarkedSerializer(serializers.Serializer):
    marked = serializers.IntegerField(
        help_text=_lazy("Les notifications marquées comme lues par la requête.")
    )
    unread_count = serializers.IntegerField()


_ERRORS = {
    "type": "object",
    "properties": {
        "detail": {"type": "string"},
        "ids": {"type": "array", "items": {"type": "string"}},
        "all": {"type": "array", "items": {"type": "string"}},
        "non_field_errors": {"type": "array", "items": {"type": "string"}},
    },
}


def _unread(request: Request) -> int:
    return Notification.objects.filter(recipient=request.user, read_at__isnull=True).count()


class NotificationViewSet(viewsets.GenericViewSet):
    """The inbox of the user who asks."""

    serializer_class = NotificationSerializer
    pagination_class = None

    def get_queryset(self):
        return Notification.objects.filter(recipient=self.request.user)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "unread",
                bool,
                description="true : les non lues seulement ; false : les lues seulement.",
            ),
            OpenApiParameter(
                "cursor", str, description="La page suivante ou précédente (liens next / previous)."
            ),
        ],
        responses={200: NotificationPageSerializer, 400: _ERRORS},
        description="The user's own notifications, newest first, by cursor (as the inbox page).",
    )
    def list(self, request: Request, **kwargs) -> Response:  # kwargs: a format suffix (.json)
        notifications = self.get_queryset().select_related("dossier", "event")
        unread = request.query_params.get("unread")
        if unread is not None:
            wanted = {"true": True, "1": True, "false": False, "0": False}.get(unread.lower())
            if wanted is None:
                raise ValidationError({"detail": _("« unread » vaut true ou false.")})
            notifications = notifications.filter(read_at__isnull=wanted)
        page = keyset_page(
            notifications, order=ORDER, cursor=request.query_params.get("cursor"), size=API_PAGE_SIZE
        )
        links = {}
        for name, cursor in (("next", page.next_cursor), ("previous", page.previous_cursor)):
            links[name] = None
            if cursor:
                query_string = request.query_params.copy()
                query_string["cursor"] = cursor
                links[name] = request.build_absolute_uri(f"{request.path}?{query_string.urlencode()}")
        return Response(
            {
                **links,
                "unread_count": _unread(request),
                "results": NotificationSerializer(page.object_list, many=True).data,
            }
        )

    @extend_schema(
        request=MarkReadSerializer,
        responses={200: MarkedSerializer, 400: _ERRORS},
        description=(
            'Mark the user\'s own notifications read: {"ids": [...]} or {"all": true}. Another user\'s '
            "notification is ignored (``marked`` counts those of the user that were unread)."
        ),
    )
    @action(detail=False, methods=["post"], url_path="read", url_name="read")
    def read(self, request: Request, **kwargs) -> Response:
        body = MarkReadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        ids = None if body.validated_data["all"] else body.validated_data["ids"]
        marked = services.mark_read(user=request.user, notification_ids=ids)
        return Response({"marked": marked, "unread_count": _unread(request)})
