#!/bin/sh
# Container entrypoint: apply the database migrations (or wait until another container
# has), then serve the API with gunicorn, or, when arguments are given, run them
# instead (e.g. the alerts worker: `entrypoint.sh python manage.py send_stock_alerts
# --loop 60`).
#
# Environment (all optional):
#   RUN_MIGRATIONS       "false": don't migrate, wait until the schema is migrated
#                        (for a second service sharing the database)
#   gunicorn's settings (PORT, BIND_HOST, WEB_CONCURRENCY, GUNICORN_TIMEOUT,
#   FORWARDED_ALLOW_IPS) are read by config/gunicorn.py, the same file `make run`
#   uses; GUNICORN_CMD_ARGS passes any further gunicorn option.
set -eu

# Run from the project directory, wherever the script is called from.
cd "$(dirname "$0")/.."

if [ "${RUN_MIGRATIONS:-true}" != "false" ]; then
    python manage.py migrate --noinput
else
    # Started beside the container that migrates: without waiting, a command could
    # start on tables that do not exist yet, fail and be restarted in a loop.
    python manage.py wait_for_schema
fi

if [ "$#" -gt 0 ]; then
    exec "$@"
fi

exec gunicorn --config config/gunicorn.py
