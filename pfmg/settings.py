"""One settings module, read from the environment.

Nothing set: the embedded default (SQLite file under var/, Celery tasks run eagerly, e-mail to the console).
DATABASE_URL / CELERY_BROKER_URL set: PostgreSQL and Redis, as in docker-compose.yml and CI.
CACHE_URL, AWS_STORAGE_BUCKET_NAME, DATABASE_REPLICA_URL: what many processes on many machines share (README,
"Deployment: growing past one machine"): no web or worker process keeps state of its own.
DEBUG false (the default): a real SECRET_KEY is required and the deploy checks pass.
"""

import hashlib
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
    "audit",
    "interop",
    "pfmg",  # project-wide management commands (reference data, demo and scale seeds)
    "csp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "pfmg.middleware.FrenchFirstLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "audit.middleware.AuditMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "pfmg.middleware.DatabaseBusyMiddleware",
    "csp.middleware.CSPMiddleware",
    "pfmg.middleware.NoStoreForAuthenticatedMiddleware",
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
# A read replica (PostgreSQL streaming replication) for the reads that tolerate a little lag and cost the most:
# statistics and exports, run inside pfmg.db.replica_reads(). Everything else, and every write, uses default.
if env.str("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = env.db("DATABASE_REPLICA_URL")
    # Tests have no replica of their own: the alias reads the test database.
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["pfmg.db.ReplicaRouter"]
for _database in DATABASES.values():
    _database["ATOMIC_REQUESTS"] = False
    if _database["ENGINE"] == "django.db.backends.postgresql":
        _database["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
        _database["CONN_HEALTH_CHECKS"] = True
        # Behind PgBouncer in transaction pooling, a server-side cursor (QuerySet.iterator()) would outlive the
        # transaction that opened it on a server connection another client now holds.
        _database["DISABLE_SERVER_SIDE_CURSORS"] = env.bool("DISABLE_SERVER_SIDE_CURSORS", default=False)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Writers wait for each other (up to 20 s) instead of failing with "database is locked", and take the write
    # lock when their transaction begins, so two concurrent decisions queue rather than deadlock.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "people.User"
AUTHENTICATION_BACKENDS = [
    "rules.permissions.ObjectPermissionBackend",
    # Django's ModelBackend, laboratories' machine accounts refused (people.auth).
    "people.auth.PortalModelBackend",
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
# Every stored file (documents, consent scans, reports, signed reports, rendered PDFs) is read and written through
# django.core.files.storage.default_storage, never by path: MEDIA_ROOT by default, an S3-compatible bucket (AWS,
# OVHcloud, Scaleway, MinIO, Ceph...) when AWS_STORAGE_BUCKET_NAME is set, so that any number of web and worker
# processes on any number of machines share them. Credentials come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY
# in the environment or the machine's role (boto3's chain), never from these settings.
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    _s3_options = {
        "bucket_name": AWS_STORAGE_BUCKET_NAME,
        "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default="") or None,
        "region_name": env.str("AWS_S3_REGION_NAME", default="") or None,
        "location": env.str("AWS_LOCATION", default=""),  # a prefix inside the bucket
        "addressing_style": env.str("AWS_S3_ADDRESSING_STYLE", default="") or None,  # "path" for most MinIOs
        "signature_version": "s3v4",
        # Files are served only by the portal's views, after their access checks: objects stay private and
        # no public URL is ever handed out.
        "default_acl": None,
        "querystring_auth": True,
        # A name already taken gets another, as on a file system: a stored file is never silently replaced.
        "file_overwrite": False,
        # A file being read is held in memory up to this size, then in a temporary file (0 would mean memory only).
        "max_memory_size": 5_000_000,
    }
    if env.str("AWS_S3_SERVER_SIDE_ENCRYPTION", default=""):
        _s3_options["object_parameters"] = {"ServerSideEncryption": env.str("AWS_S3_SERVER_SIDE_ENCRYPTION")}
    _default_storage = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": _s3_options}
elif env.str("AWS_S3_ENDPOINT_URL", default=""):
    raise ImproperlyConfigured(
        "AWS_S3_ENDPOINT_URL is set but AWS_STORAGE_BUCKET_NAME is not: name the bucket."
    )
else:
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": _default_storage,
    # Static files are collected into the image at build time and served by WhiteNoise from every web process,
    # with hashed names (cached forever) and precompressed copies.
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# The cache is shared by every process when CACHE_URL (or REDIS_URL) names a Redis: redis://host:6379/1 (a database
# apart from the broker's). Without it, a local-memory cache per process (`make run`): then nothing may rely on the
# cache being shared, and the sessions stay in the database alone.
CACHE_URL = env.str("CACHE_URL", default="") or env.str("REDIS_URL", default="")
if CACHE_URL:
    _cache = env.cache_url_config(CACHE_URL)
    if CACHE_URL.startswith(("redis://", "rediss://")):
        _cache["BACKEND"] = "django.core.cache.backends.redis.RedisCache"  # Django's own, on redis-py
else:
    _cache = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "pfmg"}
_cache.setdefault("KEY_PREFIX", "pfmg")
CACHES = {"default": _cache}
CACHE_IS_SHARED = _cache["BACKEND"] not in (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)
# Sessions live in the database, read through the shared cache when there is one. Never in a process's memory: a
# local-memory cache in front of them would serve one gunicorn worker a session another worker has changed.
SESSION_ENGINE = (
    "django.contrib.sessions.backends.cached_db" if CACHE_IS_SHARED else "django.contrib.sessions.backends.db"
)

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
# The national home's dossiers per status, counted by beat into the shared cache (a full count per view costs
# a second at 2.35 million dossiers).
NATIONAL_COUNTS_REFRESH_SECONDS = env.int("NATIONAL_COUNTS_REFRESH_SECONDS", default=60)
CELERY_BEAT_SCHEDULE["refresh-national-counts"] = {
    "task": "prescriptions.tasks.refresh_national_counts",
    "schedule": NATIONAL_COUNTS_REFRESH_SECONDS,
}
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

# Report signing (PAdES, labs.signing): each laboratory signs with <REPORT_SIGNING_DIR>/<laboratory code>.p12
# (certificate, key and chain), opened with REPORT_SIGNING_PASSWORD; a laboratory without one cannot sign.
# An optional timestamping.p12 there (extended key usage timeStamping) timestamps each signature locally.
# Verification trusts the roots listed in REPORT_SIGNING_TRUST_ROOTS (PEM or DER files), plus, in DEMO_MODE,
# the demo root written by `manage.py generate_demo_certificates`.
REPORT_SIGNING_DIR = Path(env.str("REPORT_SIGNING_DIR", default=str(VAR_DIR / "signing")))
REPORT_SIGNING_PASSWORD = env.str("REPORT_SIGNING_PASSWORD", default="demo-signing" if DEMO_MODE else "")
REPORT_SIGNING_TRUST_ROOTS = env.list("REPORT_SIGNING_TRUST_ROOTS", default=[])

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # First: its challenge makes a request without valid credentials a 401, not a 403.
        "people.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
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
    # The schema describes every route: for signed-in users and token holders only.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Several models have a "status": each its own name in the schema; FHIR's OperationOutcome severities
    # (interop.views) under a name no other "severity" field will take. A consent's choices as signed and as in
    # force after a withdrawal: one enum each, under the choice's name.
    "ENUM_NAME_OVERRIDES": {
        "DossierStatusEnum": "prescriptions.models.Dossier.Status",
        "PreIndicationVersionStatusEnum": "prescriptions.models.PreIndicationVersion.Status",
        "OperationOutcomeSeverityEnum": ["fatal", "error", "warning", "information"],
        "Choice3Enum": "consent.models.Choice3",
        "ResearchChoiceEnum": "consent.models.ResearchChoice",
        "MeetingKindEnum": "rcp.models.Meeting.Kind",
        "DecisionKindEnum": "rcp.models.Decision.Kind",
        "WithdrawalScopeEnum": "consent.models.Withdrawal.Scope",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "pfmg.api_schema.document_refusals",
    ],
}
# The FHIR R4 export (interop/): the base of the portal's own identifier and code systems (the dossier's requisition,
# the pre-indication CodeSystem…), and the base of the resources' fullUrls (empty: the address the request came to).
FHIR_SYSTEM_BASE = env.str("FHIR_SYSTEM_BASE", default="https://pfmg.example/fhir").rstrip("/")
FHIR_BASE_URL = env.str("FHIR_BASE_URL", default="").rstrip("/")
# API tokens (people.ApiToken) expire this many hours after they are issued.
API_TOKEN_TTL_HOURS = env.int("API_TOKEN_TTL_HOURS", default=12)
# A laboratory's machine account token (manage.py create_machine_account, or the admin) lasts this many days.
MACHINE_API_TOKEN_TTL_DAYS = env.int("MACHINE_API_TOKEN_TTL_DAYS", default=90)

# Security: hardened whenever DEBUG is off (so `check --deploy` is clean in production).
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
# Sliding expiry (a prescriber filling a long form is not logged out while they work) without a write per
# request: people.middleware.SessionLifetimeMiddleware moves the last activity, hence saves the session and
# renews its cookie, once a minute at most.
SESSION_SAVE_EVERY_REQUEST = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
# No inline script or style anywhere: everything comes from static/ (templates/admin and
# templates/drf_spectacular override the few third-party templates that had inline code).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    LANGUAGE_COOKIE_SECURE = True
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

# Pro Santé Connect (people/psc.py): log in as a French health professional through the national OpenID Connect
# provider. Off unless the client and the four endpoints are all set; a partial configuration is refused rather
# than half-working. The endpoints are given one by one because PSC's authorisation endpoint is not on its
# issuer's host (sandbox: https://wallet.bas.esw.esante.gouv.fr/auth).
PSC_CLIENT_ID = env.str("PSC_CLIENT_ID", default="")
_PSC_REQUIRED = {
    "PSC_CLIENT_ID": PSC_CLIENT_ID,
    "PSC_CLIENT_SECRET": env.str("PSC_CLIENT_SECRET", default=""),
    "PSC_AUTHORIZATION_ENDPOINT": env.str("PSC_AUTHORIZATION_ENDPOINT", default=""),
    "PSC_TOKEN_ENDPOINT": env.str("PSC_TOKEN_ENDPOINT", default=""),
    "PSC_USERINFO_ENDPOINT": env.str("PSC_USERINFO_ENDPOINT", default=""),
    "PSC_JWKS_ENDPOINT": env.str("PSC_JWKS_ENDPOINT", default=""),
}
PSC_ENABLED = all(_PSC_REQUIRED.values())
if any(_PSC_REQUIRED.values()) and not PSC_ENABLED:
    raise ImproperlyConfigured(
        "Pro Santé Connect is partly configured; missing: "
        + ", ".join(name for name, value in _PSC_REQUIRED.items() if not value)
    )
# When set, an ID token from another issuer is refused.
PSC_ISSUER = env.str("PSC_ISSUER", default="")
# Optional: logging out of the portal also ends the PSC session.
PSC_END_SESSION_ENDPOINT = env.str("PSC_END_SESSION_ENDPOINT", default="")
# Requested (acr_values) and required in the ID token's acr claim: eidas1 is PSC's CPS / e-CPS level.
PSC_ACR_VALUES = env.str("PSC_ACR_VALUES", default="eidas1")
# The claim carrying the national health-professional identifier ("8" + RPPS).
PSC_NATIONAL_ID_CLAIM = env.str("PSC_NATIONAL_ID_CLAIM", default="SubjectNameID")
# mozilla-django-oidc reads its own names.
OIDC_RP_CLIENT_ID = PSC_CLIENT_ID
OIDC_RP_CLIENT_SECRET = _PSC_REQUIRED["PSC_CLIENT_SECRET"]
OIDC_OP_AUTHORIZATION_ENDPOINT = _PSC_REQUIRED["PSC_AUTHORIZATION_ENDPOINT"]
OIDC_OP_TOKEN_ENDPOINT = _PSC_REQUIRED["PSC_TOKEN_ENDPOINT"]
OIDC_OP_USER_ENDPOINT = _PSC_REQUIRED["PSC_USERINFO_ENDPOINT"]
OIDC_OP_JWKS_ENDPOINT = _PSC_REQUIRED["PSC_JWKS_ENDPOINT"]
OIDC_RP_SIGN_ALGO = "RS256"
OIDC_RP_SCOPES = env.str("PSC_SCOPES", default="openid scope_all")
OIDC_AUTH_REQUEST_EXTRA_PARAMS = {"acr_values": PSC_ACR_VALUES} if PSC_ACR_VALUES else {}
OIDC_USE_PKCE = True
OIDC_CREATE_USER = False  # never: people.psc matches an existing account or refuses
OIDC_STORE_ID_TOKEN = bool(PSC_END_SESSION_ENDPOINT)  # the id_token_hint of the end-session request
OIDC_OP_LOGOUT_URL_METHOD = "people.psc.provider_logout_url"
OIDC_TIMEOUT = env.int("PSC_TIMEOUT_SECONDS", default=10)
if PSC_ENABLED:
    AUTHENTICATION_BACKENDS.append("people.psc.ProSanteConnectBackend")
    # Logging out posts a form whose answer redirects to PSC's end-session endpoint: the CSP's form-action must
    # allow that origin (the login itself is a plain link).
    if PSC_END_SESSION_ENDPOINT:
        from urllib.parse import urlsplit

        _psc_logout = urlsplit(PSC_END_SESSION_ENDPOINT)
        CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"].append(
            f"{_psc_logout.scheme}://{_psc_logout.netloc}"
        )
# The key of the research export's pseudonyms (HMAC-SHA256): stable across exports as long as it is kept. Set it
# apart from SECRET_KEY so that rotating the latter does not change every pseudonym; derived from it otherwise.
RESEARCH_PSEUDONYM_KEY = (
    env.str("RESEARCH_PSEUDONYM_KEY", default="")
    or hashlib.sha256(f"research-pseudonym:{SECRET_KEY}".encode()).hexdigest()
)
# Audit trail (audit/): every access to patient data, append-only and hash-chained. Entries older than
# AUDIT_RETENTION_DAYS are purged daily; the law asks at least six months.
AUDIT_RETENTION_DAYS = env.int("AUDIT_RETENTION_DAYS", default=400)
if AUDIT_RETENTION_DAYS < 183:
    raise ImproperlyConfigured("AUDIT_RETENTION_DAYS must be at least 183 (six months).")
# The key of the trail's chain (HMAC-SHA256): someone who can write to the database but does not hold it cannot
# recompute a rewritten chain. Keep it stable (entries hashed under another key no longer verify) and out of the
# database's reach; derived from SECRET_KEY when unset.
AUDIT_CHAIN_KEY = (
    env.str("AUDIT_CHAIN_KEY", default="") or hashlib.sha256(f"audit-chain:{SECRET_KEY}".encode()).hexdigest()
)
# Reverse proxies in front of the portal: the client address is taken from X-Forwarded-For that many hops back.
AUDIT_TRUSTED_PROXIES = env.int("AUDIT_TRUSTED_PROXIES", default=0)
CELERY_BEAT_SCHEDULE["purge-audit"] = {"task": "audit.tasks.purge_audit", "schedule": 24 * 3600}
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
    # Last: the request's writes and its remembered answer commit together (people.idempotency).
    "people.idempotency.IdempotencyKeyMiddleware",
]
# How long an API answer is kept for a retry with the same Idempotency-Key.
IDEMPOTENCY_KEY_HOURS = env.int("IDEMPOTENCY_KEY_HOURS", default=24)
CELERY_BEAT_SCHEDULE["purge-idempotency-keys"] = {
    "task": "people.tasks.purge_idempotency_keys",
    "schedule": 3600,
}
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
