from django.urls import path

from . import views

app_name = "rcp"

urlpatterns = [
    path("", views.home, name="home"),
    path("seances/nouvelle/", views.meeting_create, name="meeting_create"),
    path("seances/<int:pk>/", views.meeting_detail, name="meeting"),
    path("seances/<int:pk>/modifier/", views.meeting_edit, name="meeting_edit"),
    path("seances/<int:pk>/ordre-du-jour/", views.meeting_agenda_add, name="agenda_add"),
    path("seances/<int:pk>/ordre-du-jour/proposer/", views.meeting_agenda_propose, name="agenda_propose"),
    path(
        "seances/<int:pk>/ordre-du-jour/<int:item_pk>/retirer/",
        views.meeting_agenda_remove,
        name="agenda_remove",
    ),
    path("seances/<int:pk>/presences/", views.meeting_attendance, name="attendance"),
    path("seances/<int:pk>/compte-rendu.pdf", views.meeting_minutes_pdf, name="meeting_minutes"),
    path("dossiers/<int:pk>/", views.dossier_sheet, name="dossier"),
    path("dossiers/<int:pk>/decision/", views.dossier_decide, name="decide"),
    path("dossiers/<int:pk>/fiche/", views.dossier_sheet_entry, name="sheet_entry"),
    path("dossiers/<int:pk>/preparation/", views.dossier_prepare, name="prepare"),
    path("dossiers/<int:pk>/decisions/<int:decision_pk>/corriger/", views.dossier_correct, name="correct"),
    path("dossiers/<int:pk>/conclusion/", views.dossier_conclusion, name="conclusion"),
    path("dossiers/<int:pk>/compte-rendu-rcp.pdf", views.dossier_minutes_pdf, name="dossier_minutes"),
]
