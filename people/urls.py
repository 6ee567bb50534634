from django.contrib.auth import views as auth_views
from django.urls import path

from . import views_account

urlpatterns = [
    path("login/", views_account.PortalLoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("verification/", views_account.login_code, name="login_code"),
    path("compte/", views_account.account, name="account"),
    path("compte/double-authentification/", views_account.totp_enrol, name="account_totp"),
    path("mot-de-passe/", views_account.PasswordChangeView.as_view(), name="password_change"),
    path("reauthentification/", views_account.reauthenticate, name="reauthenticate"),
]
