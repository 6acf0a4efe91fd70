#!/bin/sh
# Container entrypoint: apply the database migrations, then serve the API with
# gunicorn, or, when arguments are given, run them instead (e.g. the alerts worker:
# `entrypoint.sh python manage.py send_stock_alerts --loop 60`).
#
# Environment (all optional):
#   RUN_MIGRATIONS       "false" skips `migrate` (for a second service sharing the database)
#   PORT                 port gunicorn listens on, on all interfaces          (8000)
#   WEB_CONCURRENCY      gunicorn worker processes                            (4)
#   GUNICORN_TIMEOUT     seconds before a silent worker is restarted          (30)
#   FORWARDED_ALLOW_IPS  proxies whose X-Forwarded-* headers gunicorn trusts  (*)
#   GUNICORN_CMD_ARGS    any further gunicorn options (read by gunicorn itself)
set -eu

# Run from the project directory, wherever the script is called from.
cd "$(dirname "$0")/.."

if [ "${RUN_MIGRATIONS:-true}" != "false" ]; then
    python manage.py migrate --noinput
fi

if [ "$#" -gt 0 ]; then
    exec "$@"
fi

# The container is reached only through the load balancer, which sets
# X-Forwarded-Proto, so by default every peer is trusted as a proxy; narrow it with
# FORWARDED_ALLOW_IPS when the port is reachable from elsewhere.
exec gunicorn config.wsgi:application \
    --bind "0.0.0.0:${PORT:-8000}" \
    --workers "${WEB_CONCURRENCY:-4}" \
    --timeout "${GUNICORN_TIMEOUT:-30}" \
    --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-*}" \
    --access-logfile -
