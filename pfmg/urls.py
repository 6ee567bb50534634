from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from consent.apis import DossierConsentViewSet, PersonConsentViewSet, ResearchExportViewSet
from labs.apis import (
    LaboratoryQueueViewSet,
    ReportViewSet,
    RoutingView,
    SampleViewSet,
    ShipmentViewSet,
    VerifyReportView,
)
from notifications.apis import NotificationViewSet
from ontology.apis import HpoTermViewSet, OrphaDiseaseViewSet
from people.apis import ApiTokenView
from people.auth import admin_login
from prescriptions.apis import DossierViewSet, PreIndicationViewSet
from prescriptions.apis_drafting import (
    DossierDocumentViewSet,
    DossierPersonViewSet,
    DossierPhenotypesView,
    PrescriptionSummaryView,
)
from rcp.apis import (
    DossierConclusionViewSet,
    DossierDecisionViewSet,
    DossierMinutesViewSet,
    DossierSheetEntryViewSet,
    MeetingViewSet,
    RcpBodyViewSet,
)

from .views import healthz

# The admin has no login form of its own: the portal's (lockout, second factor) is the only way in.
admin.site.login = admin_login  # type: ignore[method-assign]

router = DefaultRouter()
# No ".json" twin of every route: one URL per resource, and no view that must take a ``format`` argument.
router.include_format_suffixes = False
router.register("pre-indications", PreIndicationViewSet, basename="pre-indication")
router.register("hpo-terms", HpoTermViewSet, basename="hpo-term")
router.register("orpha-diseases", OrphaDiseaseViewSet, basename="orpha-disease")
router.register("dossiers", DossierViewSet, basename="dossier")
DOSSIER_PREFIX = r"dossiers/(?P<reference>[A-Za-z0-9-]{1,20})"
router.register(f"{DOSSIER_PREFIX}/persons", DossierPersonViewSet, basename="dossier-person")
router.register(f"{DOSSIER_PREFIX}/documents", DossierDocumentViewSet, basename="dossier-document")
router.register("research-export", ResearchExportViewSet, basename="research-export")
# consent: a dossier's consents, and each person's consent, withdrawal, pre-filled form and signed scan
router.register(f"{DOSSIER_PREFIX}/consents", DossierConsentViewSet, basename="dossier-consent")
router.register(
    f"{DOSSIER_PREFIX}/persons/(?P<person_id>[0-9]{{1,9}})",
    PersonConsentViewSet,
    basename="person-consent",
)
router.register("notifications", NotificationViewSet, basename="notification")
router.register("rcp-bodies", RcpBodyViewSet, basename="rcp-body")
router.register("meetings", MeetingViewSet, basename="meeting")
router.register(
    f"{DOSSIER_PREFIX}/decisions",
    DossierDecisionViewSet,
    basename="dossier-decision",
)
router.register(
    f"{DOSSIER_PREFIX}/sheet-entries",
    DossierSheetEntryViewSet,
    basename="dossier-sheet-entry",
)
router.register(
    f"{DOSSIER_PREFIX}/conclusion",
    DossierConclusionViewSet,
    basename="dossier-conclusion",
)
router.register(f"{DOSSIER_PREFIX}/minutes", DossierMinutesViewSet, basename="dossier-minutes")
# The laboratory side (labs.apis): a dossier's samples, shipments and reports, and each laboratory's queue.
router.register(f"{DOSSIER_PREFIX}/samples", SampleViewSet, basename="dossier-sample")
router.register(f"{DOSSIER_PREFIX}/shipments", ShipmentViewSet, basename="dossier-shipment")
router.register(f"{DOSSIER_PREFIX}/reports", ReportViewSet, basename="dossier-report")
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
    re_path(
        r"^api/v1/dossiers/(?P<reference>[A-Za-z0-9-]{1,20})/phenotypes/$",
        DossierPhenotypesView.as_view(),
        name="dossier-phenotypes",
    ),
    re_path(
        r"^api/v1/dossiers/(?P<reference>[A-Za-z0-9-]{1,20})/summary/$",
        PrescriptionSummaryView.as_view(),
        name="dossier-summary",
    ),
    re_path(
        r"^api/v1/dossiers/(?P<reference>[A-Za-z0-9-]{1,20})/routing/$",
        RoutingView.as_view(),
        name="dossier-routing",
    ),
    path("api/v1/reports/verify/", VerifyReportView.as_view(), name="report-verify"),
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
    path("fhir/r4/", include("interop.urls")),
    path("notifications/", include("notifications.urls")),
    path("rcp/", include("rcp.urls")),
    path("laboratoire/", include("labs.urls")),
    path("", include("consent.urls")),
    path("", include("prescriptions.urls")),
]
