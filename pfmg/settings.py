"""One settings module, read from the environment.

Nothing set: the embedded default (SQLite file under var/, Celery tasks run eagerly, e-mail to the console).
DATABASE_URL / CELERY_BROKER_URL set: PostgreSQL and Redis, as in docker-compose.yml and CI.
DEBUG false (the default): a real SECRET_KEY is required and the deploy checks pass.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

# Only the process environment counts (docker compose passes its .env file itself): a stray .env in the
# checkout must not turn `make run` into a production configuration.
env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
# Demo mode seeds users with a shared, documented password; never in production.
DEMO_MODE = env.bool("DEMO_MODE", default=DEBUG)

# Refused whenever DEBUG is off.
_DEV_SECRET_KEY = "dev-only-insecure-key-for-the-embedded-default-never-use-it-in-production"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set a long random SECRET_KEY (50+ characters) or DEBUG=true for development."
        )
    SECRET_KEY = _DEV_SECRET_KEY
elif not DEBUG and (len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY == _DEV_SECRET_KEY):
    raise ImproperlyConfigured("SECRET_KEY is too weak for production: use 50+ random characters.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI assets served locally: no CDN
    "django_fsm",  # graph_transitions
    "rules.apps.AutodiscoverRulesConfig",
    "people",
    "ontology",
    "prescriptions",
    "rcp",
    "consent",
    "labs",
    "notifications",
    "pfmg",  # project-wide management commands (reference data, demo and scale seeds)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "pfmg.middleware.FrenchFirstLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "pfmg.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "notifications.views.unread_count",
                "pfmg.nav.nav_links",
            ],
            "builtins": ["pfmg.templatetags.typography"],
        },
    },
]

WSGI_APPLICATION = "pfmg.wsgi.application"

VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "people.User"
AUTHENTICATION_BACKENDS = [
    "rules.permissions.ObjectPermissionBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", _("Français")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
# English for a British/European reader: day before month (Django's "en" formats are American).
FORMAT_MODULE_PATH = ["pfmg.formats"]
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Documents attached to a prescription (PDF, JPEG, PNG; the type is read from the content).
DOCUMENT_MAX_BYTES = env.int("DOCUMENT_MAX_BYTES", default=20_000_000)
FILE_UPLOAD_PERMISSIONS = 0o640

# E-mail: console in development; EMAIL_URL in production: smtp+tls://user:pass@host:587 (STARTTLS) or
# smtp+ssl://user:pass@host:465.
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    # Development: console, or files (EMAIL_BACKEND=django.core.mail.backends.filebased.EmailBackend with
    # EMAIL_FILE_PATH) as the worker tests use.
    EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
    EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(VAR_DIR / "mail"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="PFMG portail <no-reply@pfmg.invalid>")

# Celery: eager (in-process) when no broker is configured, so `make run` needs no Redis.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = CELERY_BROKER_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Separate queues so a burst of PDFs never delays a notification; the worker consumes all three.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {
    "notifications.tasks.*": {"queue": "notifications"},
    "*.tasks.render_*": {"queue": "pdfs"},
}
# A task taken by a worker that dies is given to another after this delay (acks_late: never lost).
# Workers look for such orphaned tasks every CELERY_UNACKED_RESTORE_SECONDS (kombu's sweep is interval x throttle).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600),
    "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_SECONDS", default=60),
    "unacked_restore_throttle": 1,
}
CELERY_BEAT_SCHEDULE = {
    "dispatch-pending-emails": {
        "task": "notifications.tasks.dispatch_pending_emails",
        "schedule": env.int("OUTBOX_DISPATCH_SECONDS", default=60),
    },
    "send-reminders": {"task": "notifications.tasks.send_reminders", "schedule": 24 * 3600},
    # Renders missed while the broker was down (pfmg/renders.py), looked for among documents changed within
    # RENDER_SWEEP_HOURS.
    "sweep-missing-renders": {
        "task": "pfmg.tasks.sweep_missing_renders",
        "schedule": env.int("RENDER_SWEEP_SECONDS", default=300),
    },
}
RENDER_SWEEP_HOURS = env.int("RENDER_SWEEP_HOURS", default=48)
# Reminder thresholds (days). The RCP wait threshold is set per RCP-FMG (wait_warning_days, in the admin).
REMINDER_DRAFT_IDLE_DAYS = env.int("REMINDER_DRAFT_IDLE_DAYS", default=14)
REMINDER_SAMPLES_NOT_RECEIVED_DAYS = env.int("REMINDER_SAMPLES_NOT_RECEIVED_DAYS", default=7)
REMINDER_REPORT_NOT_DOWNLOADED_DAYS = env.int("REMINDER_REPORT_NOT_DOWNLOADED_DAYS", default=7)
# Days a withdrawn dossier's files are kept before consent.tasks.purge_withdrawn_data deletes them (daily).
CONSENT_WITHDRAWAL_RETENTION_DAYS = env.int("CONSENT_WITHDRAWAL_RETENTION_DAYS", default=30)
CELERY_BEAT_SCHEDULE["purge-withdrawn-data"] = {
    "task": "consent.tasks.purge_withdrawn_data",
    "schedule": 24 * 3600,
}
# Absolute links in e-mails.
PORTAL_URL = env.str("PORTAL_URL", default="http://127.0.0.1:8000")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "PFMG portail API",
    "DESCRIPTION": "E-prescription of genome sequencing under the Plan France Médecine Génomique 2025.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Security: hardened whenever DEBUG is off (so `check --deploy` is clean in production).
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
# Sliding expiry: a prescriber filling a long form is not logged out while they work.
SESSION_SAVE_EVERY_REQUEST = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # WeasyPrint narrates every render at INFO.
    "loggers": {"weasyprint": {"level": "WARNING"}, "fontTools": {"level": "WARNING"}},
}

# Local accounts as French health services require (README "Authentication"): lockout after repeated failures
# (django-axes, by username so that the right password is refused too), a TOTP second factor (django-otp),
# inactivity and absolute session expiry, and a fresh strong authentication before signing a report.
INSTALLED_APPS += ["axes", "django_otp", "django_otp.plugins.otp_totp"]
# The lockout backend must come first: it refuses a locked username before any password is checked.
AUTHENTICATION_BACKENDS = ["people.auth.LockoutBackend", *AUTHENTICATION_BACKENDS]
# After authentication and messages; axes' middleware last, as it turns a lockout into the lockout page.
MIDDLEWARE += [
    "people.middleware.SessionLifetimeMiddleware",
    "people.middleware.SecondFactorEnrolmentMiddleware",
    "axes.middleware.AxesMiddleware",
]
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
LOGIN_LOCKOUT_MINUTES = env.int("LOGIN_LOCKOUT_MINUTES", default=30)
AXES_FAILURE_LIMIT = "people.auth.failure_limit"  # reads LOGIN_FAILURE_LIMIT at each attempt
AXES_COOLOFF_TIME = "people.auth.lockout_cool_off"
AXES_LOCKOUT_PARAMETERS = ["username"]
# axes.W006 wants the IP too; a lock by IP would lock a whole hospital behind one proxy after ten typos, and the
# username lock already holds whatever user agent or cookie an attacker rotates.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_RESET_ON_SUCCESS = True  # "in a row": a successful login clears the count
AXES_LOCKOUT_CALLABLE = "people.views_account.locked_out"
OTP_TOTP_ISSUER = "Portail PFMG"
SESSION_IDLE_MINUTES = env.int("SESSION_IDLE_MINUTES", default=30)
SESSION_MAX_HOURS = env.int("SESSION_MAX_HOURS", default=12)
SIGNING_REAUTH_SECONDS = env.int("SIGNING_REAUTH_SECONDS", default=300)
# axes narrates every attempt at INFO; failures and lockouts (WARNING) are what a security officer reads.
LOGGING["loggers"]["axes"] = {"level": "WARNING"}
