from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from consent.apis import ResearchExportViewSet
from labs.apis import LaboratoryQueueViewSet, ReportViewSet, SampleViewSet, ShipmentViewSet
from ontology.apis import HpoTermViewSet, OrphaDiseaseViewSet
from people.apis import ApiTokenView
from people.auth import admin_login
from prescriptions.apis import DossierViewSet, PreIndicationViewSet

from .views import healthz

# The admin has no login form of its own: the portal's (lockout, second factor) is the only way in.
admin.site.login = admin_login  # type: ignore[method-assign]

router = DefaultRouter()
router.register("pre-indications", PreIndicationViewSet, basename="pre-indication")
router.register("hpo-terms", HpoTermViewSet, basename="hpo-term")
router.register("orpha-diseases", OrphaDiseaseViewSet, basename="orpha-disease")
router.register("dossiers", DossierViewSet, basename="dossier")
router.register("research-export", ResearchExportViewSet, basename="research-export")
# The laboratory side (labs.apis): a dossier's samples, shipments and reports, and each laboratory's queue.
router.register(
    r"dossiers/(?P<reference>[A-Za-z0-9-]{1,20})/samples", SampleViewSet, basename="dossier-sample"
)
router.register(
    r"dossiers/(?P<reference>[A-Za-z0-9-]{1,20})/shipments", ShipmentViewSet, basename="dossier-shipment"
)
router.register(
    r"dossiers/(?P<reference>[A-Za-z0-9-]{1,20})/reports", ReportViewSet, basename="dossier-report"
)
router.register(
    r"laboratories/(?P<code>[a-z0-9-]{1,30})/queue", LaboratoryQueueViewSet, basename="laboratory-queue"
)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("people.urls")),
    path("oidc/", include("people.psc_urls")),  # Pro Santé Connect
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", healthz, name="healthz"),
    path("api/v1/auth/token/", ApiTokenView.as_view(), name="api-token"),
    path("api/v1/", include(router.urls)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file: no inline script under the CSP; Swagger UI's icons
    # are data: images, allowed on this page only. A browser without a session goes to the login page.
    path(
        "api/docs/",
        csp_update({"img-src": ["data:"]})(
            login_required(SpectacularSwaggerSplitView.as_view(url_name="api-schema"))
        ),
        name="api-docs",
    ),
    path("notifications/", include("notifications.urls")),
    path("rcp/", include("rcp.urls")),
    path("laboratoire/", include("labs.urls")),
    path("", include("consent.urls")),
    path("", include("prescriptions.urls")),
]
