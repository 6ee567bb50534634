"""Pro Santé Connect routes (people.psc), under /oidc/. The names are mozilla-django-oidc's, which it reverses."""

from django.urls import path
from mozilla_django_oidc.views import OIDCLogoutView

from . import psc

urlpatterns = [
    path("authenticate/", psc.AuthenticateView.as_view(), name="oidc_authentication_init"),
    path("callback/", psc.CallbackView.as_view(), name="oidc_authentication_callback"),
    # Logs out of the portal, and out of PSC for a PSC session (psc.provider_logout_url).
    path("logout/", OIDCLogoutView.as_view(), name="oidc_logout"),
]
