"""The portal's URLs plus one bare Django REST framework endpoint: the framework's own limit on this server.

The bare view goes through the same middleware stack as every API call (the same server, the same settings)
but has no authentication, no permission, no database query and a constant body: what a DRF request costs
before the portal adds anything. It exists only under ``bench_settings``, never in ``pfmg.urls``."""

from django.urls import include, path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class BareView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return Response({"bare": True})


urlpatterns = [
    path("bench/bare/", BareView.as_view()),  # unnamed: the audit middleware records nothing for it
    path("", include("pfmg.urls")),
]
