from django.urls import path

from . import views

urlpatterns = [
    path("", views.queue, name="labs_queue"),
    path("dossiers/<int:pk>/orientation/", views.routing, name="labs_routing"),
    path("dossiers/<int:pk>/prelevements/", views.samples, name="labs_samples"),
    path("dossiers/<int:pk>/reception/", views.reception, name="labs_reception"),
    path("dossiers/<int:pk>/sequencage/", views.sequencing, name="labs_sequencing"),
    path("dossiers/<int:pk>/analyse/", views.analysis, name="labs_analysis"),
    path("dossiers/<int:pk>/compte-rendu/", views.report, name="labs_report"),
    path("expeditions/<int:pk>/bordereau.pdf", views.manifest_pdf, name="labs_manifest_pdf"),
    path("comptes-rendus/<int:pk>/telecharger/", views.report_download, name="labs_report_download"),
    path("comptes-rendus/verifier/", views.verify_report, name="labs_verify_report"),
]
