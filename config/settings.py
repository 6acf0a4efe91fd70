"""Settings, read from the environment (12-factor). Every variable is listed in README.md."""

import warnings
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# Only a file named explicitly is read: an implicit .env in the project directory (the
# one docker compose reads, with the production host names) would also reconfigure
# `make run` and every management command run from the same checkout.
if env.str("ENV_FILE", default=""):
    if not Path(env.str("ENV_FILE")).is_file():
        raise ImproperlyConfigured(f"ENV_FILE names no file: {env.str('ENV_FILE')}")
    environ.Env.read_env(env.str("ENV_FILE"), overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# No DATABASE_URL: a development checkout on its private PostgreSQL (config/embedded_db.py).
PRIVATE_DATABASE = not env.str("DATABASE_URL", default="")

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    # LOCAL_SECRET_KEY: `make run` and `make dev` serve this checkout, whatever database.
    if PRIVATE_DATABASE or env.bool("LOCAL_SECRET_KEY", default=False):
        # Local use: a random key made once and kept beside the private database.
        from config.local_secret import local_secret_key

        SECRET_KEY = local_secret_key()
    elif DEBUG:
        SECRET_KEY = "insecure-development-key-only-used-with-DEBUG-on"
    else:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off and DATABASE_URL is set."
        )
elif not DEBUG and (len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5):
    # Django's own deployment check (security.W009) asks for the same.
    raise ImproperlyConfigured(
        "SECRET_KEY must be at least 50 characters with at least 5 different ones "
        'when DEBUG is off: python -c "import secrets; print(secrets.token_urlsafe(50))"'
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "core",
    "accounts",
    "events",
    "catalog",
    "ledger",
    "ordering",
    "demo",
    "console",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "core.middleware.RequestSizeLimitMiddleware",
    "core.middleware.DatabaseErrorMiddleware",
    "core.routing.ReplicaReadMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: DATABASE_URL, else the private server under .data/ (config/embedded_db.py),
# which its engine starts on the first connection, not here.
if PRIVATE_DATABASE:
    from config.embedded_db import lazy_database_settings

    DATABASES = {"default": lazy_database_settings()}
else:
    DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
# A health check costs a round trip at the start of every request; without it a connection
# broken by a database restart fails one request per worker (a 503) and is then replaced.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=False)
_db_options = DATABASES["default"].setdefault("OPTIONS", {})
_db_options["connect_timeout"] = env.int("DATABASE_CONNECT_TIMEOUT", default=5)
# Names the app's connections in pg_stat_activity (and in the server's logs).
_db_options["application_name"] = env.str(
    "DATABASE_APPLICATION_NAME", default=_db_options.get("application_name", "inventory-ledger")
)
# Without limits, one transaction holding a product's balance row (a stuck client, a
# psql session, a long report) makes every request for that product wait, until all
# web workers wait and the service stops answering. With them a waiting request fails
# fast (503 "busy", core.exception_handler). Reports and exports, which read a lot,
# take the longer report limit (core.db.report_statement_timeout). 0 means no limit.
# GUNICORN_TIMEOUT (config/gunicorn.py) must stay above all three.
DATABASE_LOCK_TIMEOUT_MS = env.int("DATABASE_LOCK_TIMEOUT_MS", default=4000)
DATABASE_STATEMENT_TIMEOUT_MS = env.int("DATABASE_STATEMENT_TIMEOUT_MS", default=15000)
DATABASE_REPORT_STATEMENT_TIMEOUT_MS = env.int(
    "DATABASE_REPORT_STATEMENT_TIMEOUT_MS", default=120000
)
# DATABASE_POOLED: DATABASE_URL leads to PgBouncer in transaction mode (docs/scaling.md).
# Each transaction may then run on another server connection, so nothing may outlive a
# transaction on one: no server-side cursor (Django declares them WITH HOLD outside a
# transaction) and no session setting.
DATABASE_POOLED = env.bool("DATABASE_POOLED", default=False)
if DATABASE_POOLED:
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    # PgBouncer refuses the `options` startup parameter, or (ignored) drops it: the limits
    # are the role's defaults instead, which every server connection starts with
    # (`manage.py set_database_limits`, run at deployment).
else:
    # Sent as startup parameters, so they cost no round trip; appended to any options the
    # DATABASE_URL carries (the last -c of a name wins).
    _db_options["options"] = " ".join(
        filter(
            None,
            [
                _db_options.get("options"),
                f"-c lock_timeout={DATABASE_LOCK_TIMEOUT_MS}",
                f"-c statement_timeout={DATABASE_STATEMENT_TIMEOUT_MS}",
            ],
        )
    )
    # Lets core.db.prepared_cursor prepare the hot paths' statements, once per connection,
    # when a statement has run there this many times (psycopg's threshold; Django's own
    # cursors bind on the client and prepare nothing).
    # None, psycopg's off switch, through PgBouncer: the next transaction may run on a
    # server connection that has not prepared them.
    _db_options.setdefault("prepare_threshold", 5)

# DATABASE_REPLICA_URL: a streaming replica for the audit reads (history, export, as-of
# balances), routed by core.routing; everything else, and every write, uses default. The
# replica's connection is configured as the primary's (same limits, pooled or not).
DATABASE_REPLICA_URL = env.str("DATABASE_REPLICA_URL", default="")
# How long a read asking for read-your-writes (X-Read-Your-Writes) waits for the replica
# to replay that far before it is served by the primary instead.
READ_YOUR_WRITES_WAIT_MS = env.int("READ_YOUR_WRITES_WAIT_MS", default=1000)
if DATABASE_REPLICA_URL:
    _replica = env.db_url_config(DATABASE_REPLICA_URL)
    _replica_options = _replica.setdefault("OPTIONS", {})
    # The app's own connection settings; not the primary URL's (target_session_attrs).
    for _name in ("connect_timeout", "application_name", "options", "prepare_threshold"):
        if _name in _db_options:
            _replica_options.setdefault(_name, _db_options[_name])
    DATABASES["replica"] = {
        **_replica,
        "CONN_MAX_AGE": DATABASES["default"]["CONN_MAX_AGE"],
        "CONN_HEALTH_CHECKS": DATABASES["default"]["CONN_HEALTH_CHECKS"],
        "DISABLE_SERVER_SIDE_CURSORS": DATABASE_POOLED,
        # The test run has no replica of its own: reads routed there read default.
        "TEST": {"MIRROR": "default"},
    }
    DATABASE_ROUTERS = ["core.routing.AuditReadRouter"]

CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Static files are collected when the image is built; elsewhere whitenoise would warn
# at every start that the directory does not exist yet.
warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Requests with a larger body are refused with 413 before any parser reads them.
MAX_REQUEST_BODY_BYTES = env.int("MAX_REQUEST_BODY_BYTES", default=1_000_000)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.TokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.parsers.JSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "core.negotiation.JsonFirstNegotiation",
    "DEFAULT_PAGINATION_CLASS": "core.pagination.PageNumberPagination",
    "PAGE_SIZE": env.int("PAGE_SIZE", default=50),
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "core.schema.AutoSchema",
    "EXCEPTION_HANDLER": "core.exception_handler.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
MAX_PAGE_SIZE = env.int("MAX_PAGE_SIZE", default=500)

REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=env.float("TOKEN_TTL_HOURS", default=10)),
    "AUTH_HEADER_PREFIX": "Token",
    "AUTO_REFRESH": False,
    # accounts.services.token_create enforces it: a login past it ends the oldest token.
    "TOKEN_LIMIT_PER_USER": env.int("TOKEN_LIMIT_PER_USER", default=10),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Inventory ledger API",
    "DESCRIPTION": "Products, an append-only stock ledger, and orders that never oversell.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI's assets come from the drf-spectacular-sidecar package, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

IDEMPOTENCY_KEY_TTL = timedelta(hours=env.float("IDEMPOTENCY_KEY_TTL_HOURS", default=24))

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
# Django waits for a silent mail server forever by default; the alerts worker must not.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="inventory@localhost")
LOW_STOCK_ALERT_EMAILS = env.list("LOW_STOCK_ALERT_EMAILS", default=[])

# Production hardening: on unless DEBUG. Health checks stay reachable over plain HTTP
# so that a load balancer can probe the container directly.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
# Cookies only over HTTPS; `make run`, which serves plain HTTP on 127.0.0.1, turns it off.
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)
X_FRAME_OPTIONS = "DENY"

# --- Sign-in protection, token revocation and security headers --------------------------
# (accounts/login.py, accounts/passwords.py, core/client_ip.py, core/security_headers.py)

# Proxies in front of the app that append to X-Forwarded-For (the load balancer: 1).
# 0 trusts no such header: the client is REMOTE_ADDR. core.client_ip reads it.
NUM_PROXIES = env.int("NUM_PROXIES", default=0)
REST_FRAMEWORK["NUM_PROXIES"] = NUM_PROXIES

INSTALLED_APPS += ["axes", "csp"]
MIDDLEWARE += [
    "core.security_headers.NoStoreMiddleware",
    "core.security_headers.ContentSecurityPolicyMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes requires
]

# django-axes counts failed logins (API, original API and admin) in the database, shared
# by every worker and process, per username and per client address; either one reaching
# the limit locks it out until the cool-off has passed since its last failure.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_CLIENT_IP_CALLABLE = "core.client_ip.client_ip"
AXES_DISABLE_ACCESS_LOG = True  # failures are kept; successful logins need no table row
AXES_VERBOSE = False

# Called by Django after every password change: revokes the user's API tokens.
AUTH_PASSWORD_VALIDATORS += [{"NAME": "accounts.passwords.RevokeTokensOnPasswordChange"}]

# Content-Security-Policy on HTML pages (the admin, Swagger UI at /api/docs/). Scripts
# only from our own origin: Swagger UI's start script is served as a file
# (SpectacularSwaggerSplitView), not inline. Inline styles stay allowed: the admin's and
# Swagger UI's templates carry a few, and a style cannot run a script.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}, "pgserver": {"level": "WARNING"}},
}
# django-axes logs every failed login as a warning; its per-attempt housekeeping is noise.
LOGGING["loggers"]["axes"] = {"level": "WARNING"}

# The staff console (console/): a session sign-in of its own.
LOGIN_URL = "console:login"
LOGIN_REDIRECT_URL = "console:dashboard"

# The event feed and webhooks (docs/events.md).
# Webhook endpoints on loopback or private addresses are refused unless this is on.
WEBHOOKS_ALLOW_PRIVATE = env.bool("WEBHOOKS_ALLOW_PRIVATE", default=False)
# A delivery's HTTP timeout, and how long its retries go on before it is dead-lettered.
WEBHOOKS_TIMEOUT_SECONDS = env.float("WEBHOOKS_TIMEOUT_SECONDS", default=10.0)
WEBHOOKS_RETRY_FOR_SECONDS = env.int("WEBHOOKS_RETRY_FOR_SECONDS", default=24 * 3600)
# How often a process serving long polls and streams looks for new events.
EVENTS_POLL_SECONDS = env.float("EVENTS_POLL_SECONDS", default=0.05)
# How many feed reads one such process runs at once (each holds a connection meanwhile).
EVENTS_MAX_CONCURRENT_PASSES = env.int("EVENTS_MAX_CONCURRENT_PASSES", default=8)
