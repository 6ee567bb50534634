"""How a person proves who they are: the lockout, the second factor and the session's authentication record.

The session keys below are a contract with the Pro Santé Connect login and the signing code
(``pfmg_auth_method``, ``pfmg_strong_auth_at``); the rest belong to the local login flow.
"""

from __future__ import annotations

import datetime as dt
import time

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.signals import user_logged_in
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.dispatch import receiver
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from .models import LaboratoryMembership, RcpMembership, Role

AUTH_METHOD = "pfmg_auth_method"  # "password" | "password+totp" | "psc"
STRONG_AUTH_AT = "pfmg_strong_auth_at"  # ISO 8601, set by a login or re-authentication with two factors
LOGIN_AT = "pfmg_login_at"  # epoch seconds: the absolute session limit counts from here
LAST_SEEN = "pfmg_last_seen"  # epoch seconds: the inactivity limit counts from here
ENROL_REQUIRED = "pfmg_enrol_required"  # a required-role user logged in without a device: enrol first
PENDING_LOGIN = "pfmg_pending_login"  # password accepted, second factor awaited
PENDING_TOTP_KEY = "pfmg_pending_totp_key"  # the secret shown on the enrolment page, until confirmed

PENDING_LOGIN_SECONDS = 300


def failure_limit(request, credentials) -> int:
    # A callable so that the setting is read at each attempt (and overridden in tests).
    return settings.LOGIN_FAILURE_LIMIT


def lockout_cool_off(request=None) -> dt.timedelta:
    return dt.timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)


class LockoutBackend(AxesStandaloneBackend):
    """Axes' lockout check, skipped when there is no request: only code calls ``authenticate`` without one
    (tests' ``client.login``, a shell), never a page; every login page passes its request."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


class RefusesMachineAccounts:
    """A way in that never lets a laboratory's machine account in: it has no password (a database constraint),
    and no session may be opened or kept for it either. It speaks to the API with its token only."""

    def user_can_authenticate(self, user) -> bool:
        if getattr(user, "is_machine_account", False):
            return False
        return super().user_can_authenticate(user)  # type: ignore[misc]


class PortalModelBackend(RefusesMachineAccounts, ModelBackend):
    """Django's password backend (login page, API token endpoint, re-authentication), machine accounts refused
    (``user_can_authenticate`` also serves ``get_user``: a session of a machine account is never valid)."""


def second_factor_required(user) -> bool:
    """Per the authentication contract: coordinators and deputies of an RCP-FMG, biologists, auditors,
    administrators, staff and superusers must use a second factor; everyone else may."""
    if not (user and user.is_authenticated):
        return False
    if user.is_staff or user.is_superuser:
        return True
    if user.has_role(Role.ADMINISTRATOR.value) or user.has_role(Role.AUDITOR.value):
        return True
    if user.has_role(Role.BIOLOGIST.value):
        return True
    if LaboratoryMembership.objects.filter(
        user=user, function=LaboratoryMembership.Function.BIOLOGIST
    ).exists():
        return True
    return RcpMembership.objects.filter(
        user=user, function__in=[RcpMembership.Function.COORDINATOR, RcpMembership.Function.DEPUTY]
    ).exists()


def confirmed_device(user) -> TOTPDevice | None:
    if not (user and user.pk):
        return None
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()


def verify_code(device: TOTPDevice | None, code: str) -> bool:
    """django-otp refuses a code already used (no replay) and throttles after failures."""
    if device is None:
        return False
    code = (code or "").strip().replace(" ", "")
    allowed, _ = device.verify_is_allowed()
    return bool(allowed and code.isdigit() and device.verify_token(code))


def confirm_identity(request, user, password: str, code: str) -> bool:
    """``user``'s password and current TOTP code, given again (re-authentication before a signature, on its page
    or through the API). A wrong password, or a right password with a wrong code, counts towards the lockout;
    a used code is never accepted twice. ``request``: the HTTP request (django-axes reads it)."""
    from django.contrib.auth import authenticate
    from django.contrib.auth.signals import user_login_failed

    device = confirmed_device(user)
    if device is None:
        return False
    username = user.get_username()
    found = authenticate(request, username=username, password=password)
    if found is not None and found.pk == user.pk and verify_code(device, code):
        return True
    if found is not None:  # the password was right, the code was not: it counts as a failure too
        user_login_failed.send(sender=__name__, credentials={"username": username}, request=request)
    return False


def record_strong_authentication(request, device: TOTPDevice | None = None) -> None:
    """Two factors were just given (login, enrolment or re-authentication)."""
    if device is not None:
        otp_login(request, device)
    request.session[AUTH_METHOD] = "password+totp"
    request.session[STRONG_AUTH_AT] = timezone.now().isoformat()
    request.session.pop(ENROL_REQUIRED, None)


def strong_auth_at(request) -> dt.datetime | None:
    raw = request.session.get(STRONG_AUTH_AT)
    if not raw:
        return None
    try:
        at = dt.datetime.fromisoformat(raw)
    except (TypeError, ValueError):
        return None
    return at if timezone.is_aware(at) else None


def strong_auth_age(request) -> dt.timedelta | None:
    """How long ago the session's last strong authentication (password + TOTP, or Pro Santé Connect) was;
    None when there was none."""
    at = strong_auth_at(request)
    return None if at is None else timezone.now() - at


def strong_auth_step(request) -> str | None:
    """What ``request.user`` must do before an action that needs a fresh strong authentication (signing a
    report): the URL name of the page to go through — enrol a second factor, or confirm their identity — or
    None when the last strong authentication is recent enough. A Pro Santé Connect session needs no device of
    its own: it confirms through PSC again."""
    if request.session.get(AUTH_METHOD) != "psc" and confirmed_device(request.user) is None:
        return "account_totp"
    age = strong_auth_age(request)
    if age is None or age.total_seconds() > settings.SIGNING_REAUTH_SECONDS:
        return "reauthenticate"
    return None


def safe_next(request, default: str) -> str:
    target = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME) or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def admin_login(request, extra_context=None):
    """The admin's own login form would bypass the lockout page and the second factor: it sends to the
    portal's login. A logged-in user who is not staff is refused (the portal login would send them back)."""
    if request.user.is_authenticated:
        raise PermissionDenied
    return redirect_to_login(
        safe_next(request, reverse("admin:index")), login_url=reverse("login"), redirect_field_name="next"
    )


@receiver(user_logged_in, dispatch_uid="people.auth.session_clock")
def start_session_clock(sender, request, user, **kwargs) -> None:
    # Every way in (password, Pro Santé Connect, tests' force_login) starts both session clocks.
    if request is not None and hasattr(request, "session"):
        now = time.time()
        request.session[LOGIN_AT] = now
        request.session[LAST_SEEN] = now
