from django.urls import path

from . import pdf_views, prescribing, views

urlpatterns = [
    path("", views.home, name="home"),
    path("dossiers/<int:pk>/", views.dossier_detail, name="dossier_detail"),
    path("dossiers/<int:pk>/actions/<str:name>/", views.dossier_transition, name="dossier_transition"),
    path("dossiers/<int:pk>/documents/<int:document_pk>/", views.document_download, name="document_download"),
    path(
        "dossiers/<int:pk>/bon-de-prescription.pdf",
        pdf_views.prescription_summary_pdf,
        name="prescription_summary_pdf",
    ),
    path("prescriptions/nouvelle/", prescribing.start, name="prescribe_start"),
    path("prescriptions/<int:pk>/", prescribing.resume, name="prescribe_resume"),
    path("prescriptions/<int:pk>/<slug:step>/", prescribing.step, name="prescribe_step"),
]
