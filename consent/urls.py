from django.urls import path

from . import views

app_name = "consent"

urlpatterns = [
    path("patients-et-familles/", views.notices, name="notices"),
    path("patients-et-familles/documents/<int:pk>.pdf", views.notice_pdf, name="notice_pdf"),
    path("consentements/dossiers/<int:pk>/", views.dossier_consents, name="dossier"),
    path(
        "consentements/dossiers/<int:pk>/personnes/<int:person_pk>/enregistrer/",
        views.record_consent,
        name="record",
    ),
    path(
        "consentements/dossiers/<int:pk>/personnes/<int:person_pk>/retrait/",
        views.record_withdrawal,
        name="withdraw",
    ),
    path(
        "consentements/dossiers/<int:pk>/personnes/<int:person_pk>/formulaire.pdf",
        views.consent_form_pdf,
        name="form_pdf",
    ),
    path(
        "consentements/dossiers/<int:pk>/personnes/<int:person_pk>/formulaire-signe/",
        views.scan_download,
        name="scan",
    ),
]
