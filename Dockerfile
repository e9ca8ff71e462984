# WhatsApp IA — one image for every service: web (Daphne), worker (Celery) and scheduler (Celery beat).
#
#   docker build -t whatsapp-ia .
#   docker compose up -d          # see docker-compose.yml and .env.example
#
# The image runs the production settings: SECRET_KEY, FIELD_ENCRYPTION_KEY and ALLOWED_HOSTS must be set,
# plus DATABASE_URL (or DB_*) and REDIS_URL.
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /app

# System packages: ffmpeg (audio for Vosk), Tesseract with Spanish and English (catalog OCR),
# libmariadb3 (MySQL/MariaDB client library at run time). The compiler, pkg-config and the MariaDB
# headers are only needed to build mysqlclient, so they are purged in the same layer.
# libmariadb3 and libgomp1 (OpenMP for faiss) are named explicitly so the purge keeps them.
COPY requirements.txt requirements-mysql.txt ./
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends \
        ffmpeg \
        tesseract-ocr tesseract-ocr-spa tesseract-ocr-eng apertium-eng-spa \
        libmariadb3 libgomp1 \
        pkg-config default-libmysqlclient-dev build-essential; \
    pip install -r requirements.txt -r requirements-mysql.txt; \
    apt-get purge -y --auto-remove pkg-config default-libmysqlclient-dev build-essential; \
    rm -rf /var/lib/apt/lists/*; \
    python -c "import MySQLdb, faiss, vosk, pytesseract"; \
    tesseract --list-langs | grep -qx spa

# Non-root user; the code stays owned by root (read-only for the app), only var/ is writable.
RUN set -eux; \
    groupadd --system app; \
    useradd --system --gid app --create-home --home-dir /home/app --shell /usr/sbin/nologin app

COPY . .

ENV DJANGO_SETTINGS_MODULE=whatsapp_ia.settings.production

# var/ holds the collected static files, media (a volume), the catalog index (a volume) and the
# Celery beat schedule. collectstatic needs the production settings to import: the dummy values
# below exist only for this RUN line and are not kept in the image's environment.
RUN set -eux; \
    chmod 0755 docker/entrypoint.sh; \
    mkdir -p /app/var/media /app/var/index /app/var/log; \
    SECRET_KEY=build-only-not-a-secret \
    FIELD_ENCRYPTION_KEY=MDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA= \
    ALLOWED_HOSTS=localhost \
        python manage.py collectstatic --noinput --verbosity 0; \
    chown -R app:app /app/var

USER app

# Media files (MEDIA_ROOT): keep them on a volume so they survive new containers.
VOLUME ["/app/var/media"]

EXPOSE 8000

# /healthz answers 200 when the database answers. It is exempt from SECURE_SSL_REDIRECT
# (SECURE_REDIRECT_EXEMPT = ^healthz$, matched against the path without its leading slash).
# The Host header must be allowed by ALLOWED_HOSTS, so the check sends the first usable entry
# ("*" allows any host; a leading-dot entry also matches the bare domain).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request as u; hosts = [h.strip().lstrip('.') for h in os.environ.get('ALLOWED_HOSTS', '').split(',') if h.strip() and '*' not in h]; r = u.urlopen(u.Request('http://127.0.0.1:8000/healthz', headers={'Host': hosts[0] if hosts else 'localhost'}), timeout=4); sys.exit(0 if r.status == 200 else 1)"]

ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["python", "-m", "whatsapp_ia.server", "-b", "0.0.0.0", "-p", "8000", "whatsapp_ia.asgi:application"]
