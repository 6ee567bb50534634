from django.urls import path

from . import views

urlpatterns = [
    path("", views.inbox, name="notifications_inbox"),
    path("lues/", views.mark_read, name="notifications_mark_read"),
]
