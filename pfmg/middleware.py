from django.conf import settings
from django.utils import translation
from django.utils.cache import patch_vary_headers


class FrenchFirstLocaleMiddleware:
    """French unless the user chose another language (the language cookie set by /i18n/setlang/).

    Django's LocaleMiddleware would follow the browser's Accept-Language, so a clinician whose browser is in
    English would get half-translated dates and labels; the portal is French first, English on request."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.available = {code for code, _ in settings.LANGUAGES}

    def __call__(self, request):
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        language = chosen if chosen in self.available else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
        response = self.get_response(request)
        patch_vary_headers(response, ("Cookie",))
        response.headers.setdefault("Content-Language", language)
        return response


class DatabaseBusyMiddleware:
    """A write that still found SQLite's database locked after its timeout (``OPTIONS.timeout``) lost a race
    with another user's action: it rolled back whole, so the user is told to reload and try again, as any
    other concurrent loser is (``prescriptions.services.TransitionConflict``), instead of a 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        from django.db import OperationalError
        from django.shortcuts import render

        if isinstance(exception, OperationalError) and "database is locked" in str(exception):
            return render(request, "409.html", status=409)
        return None


class NoStoreForAuthenticatedMiddleware:
    """Nothing a signed-in user or an API client receives is kept by the browser or a proxy: its pages show
    identities, its downloads are reports and consents. Static files never reach this middleware (WhiteNoise
    answers them first)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        # request.user is also set by DRF when a token authenticates the request, after the view ran.
        user = getattr(request, "user", None)
        if (user is not None and user.is_authenticated) or "HTTP_AUTHORIZATION" in request.META:
            response.headers["Cache-Control"] = "private, no-store"
        return response
