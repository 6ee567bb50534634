from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("dossiers/<int:pk>/", views.dossier_detail, name="dossier_detail"),
    path("dossiers/<int:pk>/actions/<str:name>/", views.dossier_transition, name="dossier_transition"),
]
