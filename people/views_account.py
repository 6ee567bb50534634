"""Login (password, then the second factor), the account page, TOTP enrolment, password change and the
re-authentication asked before signing. Sessions are created only here (and by Pro Santé Connect)."""

import base64
import time
from urllib.parse import urlencode

import segno
from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.signals import user_login_failed
from django.contrib.messages.views import SuccessMessageMixin
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp.util import random_hex

from . import auth
from .forms import CodeForm, PortalAuthenticationForm, ReauthenticationForm
from .models import User


def _lockout_message() -> str:
    return _(
        "Trop de tentatives de connexion ont échoué : la connexion est bloquée pendant %(minutes)d minutes. "
        "Un administrateur peut la débloquer avant."
    ) % {"minutes": settings.LOGIN_LOCKOUT_MINUTES}


def locked_out(request, original_response=None, credentials=None):
    """axes' lockout page: the login page with one message, the same whether the username exists or not; to an
    API client (the token endpoint), the same message as JSON."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": _lockout_message()}, status=429)
    request.session.pop(auth.PENDING_LOGIN, None)
    context = {"form": PortalAuthenticationForm(request), "locked_message": _lockout_message(), "next": ""}
    return render(request, "registration/login.html", context, status=429)


class PortalLoginView(auth_views.LoginView):
    form_class = PortalAuthenticationForm
    redirect_authenticated_user = True

    def form_valid(self, form):
        user = form.get_user()
        session = self.request.session
        if auth.confirmed_device(user) is not None:
            # Not logged in yet: the session only remembers whose password was right, for a few minutes.
            session[auth.PENDING_LOGIN] = {
                "user": user.pk,
                "backend": user.backend,
                "at": time.time(),
                "next": self.get_success_url(),
            }
            return redirect("login_code")
        response = super().form_valid(form)
        session[auth.AUTH_METHOD] = "password"
        session.pop(auth.STRONG_AUTH_AT, None)
        if auth.second_factor_required(user):
            session[auth.ENROL_REQUIRED] = True
            messages.warning(
                self.request,
                _("Votre fonction impose une double authentification : activez-la pour continuer."),
            )
            return redirect(f"{reverse('account_totp')}?{urlencode({'next': self.get_success_url()})}")
        return response


def login_code(request):
    """Second step of the login: the TOTP code of the user whose password was just accepted."""
    pending = request.session.get(auth.PENDING_LOGIN)
    user = None
    if pending and time.time() - pending.get("at", 0) <= auth.PENDING_LOGIN_SECONDS:
        user = User.objects.filter(pk=pending.get("user"), is_active=True).first()
    if user is None:
        request.session.pop(auth.PENDING_LOGIN, None)
        messages.info(request, _("Saisissez à nouveau votre identifiant et votre mot de passe."))
        return redirect("login")
    credentials = {"username": user.get_username()}
    if not AxesProxyHandler.is_allowed(request, credentials):
        return locked_out(request)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = auth.confirmed_device(user)
        if auth.verify_code(device, form.cleaned_data["code"]):
            del request.session[auth.PENDING_LOGIN]
            auth_login(request, user, backend=pending["backend"])
            auth.record_strong_authentication(request, device)
            return redirect(pending["next"])
        user_login_failed.send(sender=__name__, credentials=credentials, request=request)
        if getattr(request, "axes_locked_out", False):
            return locked_out(request)
        form.add_error("code", _("Code incorrect ou expiré."))
    return render(request, "registration/login_code.html", {"form": form})


@login_required
def account(request):
    device = auth.confirmed_device(request.user)
    return render(
        request,
        "registration/account.html",
        {
            "device": device,
            "required": auth.second_factor_required(request.user),
            "auth_method": request.session.get(auth.AUTH_METHOD, ""),
        },
    )


def _grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@login_required
def totp_enrol(request):
    """Enrol an authenticator app: a QR code drawn here (no outside service), the secret for manual entry, and
    a first code to prove the app holds the same secret. The secret waits in the session until then, so that
    merely opening the page writes nothing."""
    user = request.user
    next_url = auth.safe_next(request, reverse("account"))
    if auth.confirmed_device(user) is not None:
        return render(request, "registration/totp_enrol.html", {"already": True})
    key = request.session.get(auth.PENDING_TOTP_KEY) or random_hex(20)
    request.session[auth.PENDING_TOTP_KEY] = key
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["code"].strip().replace(" ", "")
        totp = TOTP(bytes.fromhex(key))
        if code.isdigit() and totp.verify(int(code), tolerance=1):
            device = TOTPDevice.objects.create(
                user=user,
                name=_("Application d'authentification"),
                key=key,
                confirmed=True,
                last_t=totp.t(),  # this code may not be used again
            )
            del request.session[auth.PENDING_TOTP_KEY]
            auth.record_strong_authentication(request, device)
            messages.success(request, _("Double authentification activée."))
            return redirect(next_url)
        form.add_error("code", _("Code incorrect : vérifiez l'heure de votre téléphone et recommencez."))
    device = TOTPDevice(user=user, key=key)  # unsaved: only for its otpauth:// address
    qr = segno.make(device.config_url, error="m")
    return render(
        request,
        "registration/totp_enrol.html",
        {
            "form": form,
            "qr_svg": qr.svg_inline(scale=4, title=_("QR code à scanner")),
            "secret": _grouped(base64.b32encode(device.bin_key).decode()),
            "required": request.session.get(auth.ENROL_REQUIRED, False),
            "next": next_url,
        },
    )


class PasswordChangeView(SuccessMessageMixin, auth_views.PasswordChangeView):
    """Django's password change: its validators, and the session hash that ends every other session of the
    user while keeping this one (update_session_auth_hash)."""

    template_name = "registration/password_change_form.html"
    success_url = reverse_lazy("account")
    success_message = gettext_lazy("Mot de passe modifié : vos autres sessions ont été fermées.")


@login_required
def reauthenticate(request):
    """Password and a TOTP code again, for an action that needs a fresh proof (signing a report)."""
    next_url = auth.safe_next(request, reverse("account"))
    device = auth.confirmed_device(request.user)
    # Who logged in with Pro Santé Connect confirms their identity there again (a fresh CPS / e-CPS login).
    psc = settings.PSC_ENABLED and request.session.get(auth.AUTH_METHOD) == "psc"
    if device is None and not psc:
        messages.warning(
            request,
            _(
                "Activez d'abord la double authentification : elle est nécessaire pour confirmer votre identité."
            ),
        )
        return redirect(f"{reverse('account_totp')}?{urlencode({'next': next_url})}")
    form = ReauthenticationForm(request.POST or None)
    if request.method == "POST" and device is not None and form.is_valid():
        confirmed = auth.confirm_identity(
            request, request.user, form.cleaned_data["password"], form.cleaned_data["code"]
        )
        if getattr(request, "axes_locked_out", False):
            return locked_out(request)
        if confirmed:
            auth.record_strong_authentication(request, device)
            messages.success(request, _("Identité confirmée."))
            return redirect(next_url)
        form.add_error(None, _("Mot de passe ou code incorrect."))
    return render(
        request,
        "registration/reauth.html",
        {"form": form, "next": next_url, "has_device": device is not None},
    )
