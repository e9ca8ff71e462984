"""Complete settings for every mode; production.py only tightens them.

With no environment at all this is the embedded default: SQLite and a private
Redis on a unix socket under var/, both started by `bin/run`.
"""

from __future__ import annotations

import os

from django.utils.translation import gettext_lazy as _

from whatsapp_ia.env import BASE_DIR, VAR_DIR, env, fernet_key_from, persistent_secret
from whatsapp_ia.proxy import parse_trusted_proxies
from whatsapp_ia.settings.parsing import database_from_env, redis_from_env

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="") or persistent_secret("secret_key")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Secrets stored in the database (channel credentials) are encrypted with this key.
FIELD_ENCRYPTION_KEY = env.str("FIELD_ENCRYPTION_KEY", default="") or fernet_key_from(SECRET_KEY)

INSTALLED_APPS = [
    "daphne",
    "whatsapp_ia.admin_site.WhatsAppAdminConfig",  # django.contrib.admin, organised by business section
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "import_export",
    "whatsapp_ia.admin_site.LoginSecurityConfig",  # django-axes (failed-login throttling), named for the admin
    "accounts",
    "conversations",
    "flows",
    "catalog_ai",
    "analytics",
    "whatsapp_ia",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "whatsapp_ia.middleware.DefaultLanguageMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "whatsapp_ia.urls"
ASGI_APPLICATION = "whatsapp_ia.asgi.application"
WSGI_APPLICATION = "whatsapp_ia.wsgi.application"

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
                "whatsapp_ia.context_processors.admin_warnings",
                "conversations.context_processors.channel_warnings",
            ],
        },
    },
]

# Database: DATABASE_URL, or the seed's DB_* (MySQL/MariaDB), or SQLite under var/.
DATABASES = {"default": database_from_env(os.environ, sqlite_path=VAR_DIR / "db.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis: REDIS_URL, or the private one `bin/run` starts on var/redis.sock.
REDIS = redis_from_env(os.environ, socket_path=VAR_DIR / "redis.sock")
REDIS_URL = REDIS.client
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS.client,
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="wia"),
        "TIMEOUT": 300,
    }
}

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
    # The seed stored unsalted SHA-256 hex digests; accepted once, then upgraded.
    "accounts.passwords.LegacySHA256PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"

# Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (addresses or networks,
# comma-separated); empty = none, the connection's own address is the client (whatsapp_ia/proxy.py).
TRUSTED_PROXIES = [str(n) for n in parse_trusted_proxies(env.list("TRUSTED_PROXIES", default=[]))]

# Failed-login throttling (django-axes; accounts/lockout.py): a username+IP pair is locked after
# LOGIN_FAILURE_LIMIT failures, and a username on its own after LOGIN_USERNAME_FAILURE_LIMIT failures
# from any addresses (so changing address does not help an attacker). The trade-off: anyone can lock
# a known username out for LOGIN_COOLOFF_MINUTES by failing on purpose (failures while locked extend
# it); an administrator unlocks it early with `manage.py axes_reset_username <name>` or in the admin.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_USERNAME_FAILURE_LIMIT = env.int("LOGIN_USERNAME_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = env.float("LOGIN_COOLOFF_MINUTES", default=15) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "username"]
AXES_HANDLER = "accounts.lockout.LockoutHandler"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
# The client's address is REMOTE_ADDR, which TrustedProxyMiddleware sets from TRUSTED_PROXIES
# (never django-ipware's reading of X-Forwarded-For, should it be installed).
AXES_CLIENT_IP_CALLABLE = "accounts.lockout.client_ip"
AXES_VERBOSE = False

# Excel import/export in the admin (django-import-export): importing needs the change permission
# (flows' rule import also add), exporting the view permission; by default any staff user could.
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "change"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"

LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="es")
# Spanish unless the user picks another language; true = follow the browser's Accept-Language.
LANGUAGE_FOLLOWS_BROWSER = env.bool("LANGUAGE_FOLLOWS_BROWSER", default=False)
LANGUAGES = [("es", _("Spanish")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
# The business's time zone: every date in the console, the admin and exports is shown in it (stored in UTC).
# TIME_ZONE is the older name, still read when BUSINESS_TIME_ZONE is not set.
TIME_ZONE = env.str("BUSINESS_TIME_ZONE", default="") or env.str("TIME_ZONE", default="") or "America/Mexico_City"
BUSINESS_TIME_ZONE = TIME_ZONE
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Files served at the site's root: /favicon.ico, which browsers ask for on pages without an icon link
# (JSON responses, the API's pages).
WHITENOISE_ROOT = BASE_DIR / "static" / "root"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(VAR_DIR / "media"))
MEDIA_URL = "media/"
# Django serves MEDIA_ROOT/public/ (and only that folder) at /media/public/ (embedded default); in
# production the proxy may (SERVE_MEDIA=false). Customer media is served by conversations.views_media only.
SERVE_MEDIA = env.bool("SERVE_MEDIA", default=True)
# Public base URL of /media/ (providers fetch published files by link when OUTBOUND_MEDIA_MODE=link).
MEDIA_PUBLIC_BASE_URL = env.str("MEDIA_PUBLIC_BASE_URL", default="")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=10 * 1024 * 1024)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",  # scripts: manage.py drf_create_token USER
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "whatsapp_ia.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# Conversation behaviour (seed names).
INITIAL_STEP = env.str("INITIAL_STEP", default="inicio")
SESSION_TIMEOUT = env.int("SESSION_TIMEOUT", default=1800)  # seconds of inactivity
INIT_DB_ON_START = env.bool("INIT_DB_ON_START", default=True)
# What the bot says when no rule of the current step matches (the message is flagged for agents).
FLOW_FALLBACK_MESSAGE = env.str(
    "FLOW_FALLBACK_MESSAGE", default="Disculpa, no entendí tu mensaje. Escribe *menu* para ver las opciones."
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        # faiss logs each CPU-feature library it tries at INFO: noise at every start.
        "faiss.loader": {"level": "WARNING"},
    },
}

from whatsapp_ia.settings.integrations.ai import *  # noqa: E402,F403
from whatsapp_ia.settings.integrations.celery import *  # noqa: E402,F403
from whatsapp_ia.settings.integrations.channels import *  # noqa: E402,F403
from whatsapp_ia.settings.integrations.console import *  # noqa: E402,F403
from whatsapp_ia.settings.integrations.excel import *  # noqa: E402,F403
from whatsapp_ia.settings.integrations.media import *  # noqa: E402,F403
from whatsapp_ia.settings.integrations.providers import *  # noqa: E402,F403
from whatsapp_ia.settings.integrations.webhooks import *  # noqa: E402,F403
