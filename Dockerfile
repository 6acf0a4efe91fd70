# The production image: gunicorn serving the API, run as an unprivileged user.
# Build: docker build -t inventory-ledger .   (or: docker compose build)
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BIND_HOST=0.0.0.0

RUN groupadd --system app \
    && useradd --system --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app

WORKDIR /app
COPY . .

# Runtime dependencies only: no dev extras, and not the embedded development
# PostgreSQL (the `embedded` extra); psycopg[binary] ships its own libpq.
RUN pip install . && rm -rf build ./*.egg-info

# Static files (admin, API docs) are collected into the image and served by WhiteNoise.
# The placeholder SECRET_KEY and DATABASE_URL only let the settings import: with
# DATABASE_URL set they open no connection, and collectstatic needs no database.
RUN SECRET_KEY=build-only-placeholder-never-used-at-run-time-0123456789abcdef \
    DATABASE_URL=postgres://build@localhost/build \
    python manage.py collectstatic --noinput

# The code stays owned by root and read-only for the user that runs it.
USER app

EXPOSE 8000
ENTRYPOINT ["/app/docker/entrypoint.sh"]
