from django.urls import path

from . import views

app_name = "fhir"

# ``path`` converters: an odd reference or id (with a slash, say) reaches the view and gets its OperationOutcome.
urlpatterns = [
    path("Bundle/<path:reference>", views.BundleView.as_view(), name="bundle"),
    path("<str:resource_type>/<path:id>", views.ResourceView.as_view(), name="resource"),
]
