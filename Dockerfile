# syntax=docker/dockerfile:1
# PFMG portail: one image for the web (gunicorn), the Celery worker and Celery beat.
# Build: docker build -t pfmg-portal .   (docker compose builds it for you, see docker-compose.yml)
ARG PYTHON_IMAGE=python:3.11-slim-trixie
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    VAR_DIR=/app/var \
    MEDIA_ROOT=/app/var/media \
    STATIC_ROOT=/app/staticfiles \
    WEB_CONCURRENCY=3

# Shared libraries WeasyPrint loads through cffi (Pango, HarfBuzz, fontconfig via pangoft2), a font family
# for the PDFs, and the MIME database. Python wheels bring everything else (no compiler needed).
# Debian versions are not pinned: the stable suite only receives security fixes.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 \
        libpangoft2-1.0-0 \
        libharfbuzz0b \
        libharfbuzz-subset0 \
        fonts-dejavu-core \
        shared-mime-info \
    && rm -rf /var/lib/apt/lists/*

# Unprivileged user with a fixed numeric id (so orchestrators can check runAsNonRoot).
RUN groupadd --system --gid 10001 pfmg \
    && useradd --system --uid 10001 --gid pfmg --home-dir /app --no-create-home --shell /usr/sbin/nologin pfmg

WORKDIR /app

# Dependencies first, so that code changes keep this layer cached.
COPY requirements/base.lock requirements/base.lock
RUN pip install --require-hashes --no-cache-dir -r requirements/base.lock

# The code stays owned by root (read-only for the app user); only var/ (media, beat schedule) is writable.
COPY . .

# Static files are collected into the image (served by WhiteNoise). The settings refuse to load without a
# strong SECRET_KEY when DEBUG is off: a random one is made for this RUN line only and is not kept anywhere.
RUN SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
        python manage.py collectstatic --noinput \
    && mkdir -p /app/var/media /app/var/beat \
    && chown -R pfmg:pfmg /app/var

USER 10001:10001

EXPOSE 8000

# WEB_CONCURRENCY (read by gunicorn itself) sets the number of workers: about 2 x cores + 1.
CMD ["gunicorn", "pfmg.wsgi:application", \
     "--bind", "0.0.0.0:8000", \
     "--worker-tmp-dir", "/dev/shm", \
     "--timeout", "60", \
     "--access-logfile", "-"]
