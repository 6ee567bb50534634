"""Session lifetime and the second-factor gate, enforced on every request of a logged-in user."""

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _

from .auth import ENROL_REQUIRED, LAST_SEEN, LOGIN_AT

# Seconds: the idle limit is exact to this much, and an active session is written at most this often.
LAST_SEEN_RESOLUTION = 60


class SessionLifetimeMiddleware:
    """Ends a session idle for SESSION_IDLE_MINUTES (sliding) or older than SESSION_MAX_HOURS since login,
    whatever the activity: an unattended workstation in a ward must not stay open on patient data.

    The last activity is written at most once every LAST_SEEN_RESOLUTION seconds: writing it on every request
    made every page view an UPDATE of the session and a commit (with SESSION_SAVE_EVERY_REQUEST), for an idle
    limit counted in minutes. Saving the session when it moves also slides the cookie's expiry."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            # This user object lives one request: its roles and memberships are read once, in one query, when
            # first asked (people.models.User._memo), however many rules and selectors ask.
            request.user.memoise_memberships = True
            now = time.time()
            session = request.session
            started = session.setdefault(LOGIN_AT, now)
            last_seen = session.get(LAST_SEEN, now)
            idle = now - last_seen > settings.SESSION_IDLE_MINUTES * 60
            too_old = now - started > settings.SESSION_MAX_HOURS * 3600
            if idle or too_old:
                logout(request)
                messages.info(request, _("Votre session a expiré : reconnectez-vous pour continuer."))
                return redirect_to_login(request.get_full_path())
            if now - last_seen >= LAST_SEEN_RESOLUTION or LAST_SEEN not in session:
                session[LAST_SEEN] = now
        return self.get_response(request)


class SecondFactorEnrolmentMiddleware:
    """A user who must use a second factor and logged in without one reaches nothing but the enrolment page
    (and logging out) until a device is confirmed. Only the login flow sets the flag."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated and request.session.get(ENROL_REQUIRED):
            enrol = reverse("account_totp")
            allowed = {enrol, reverse("logout"), reverse("set_language")}
            if request.path not in allowed and not request.path.startswith(
                "/" + settings.STATIC_URL.lstrip("/")
            ):
                return redirect(enrol)
        return self.get_response(request)
