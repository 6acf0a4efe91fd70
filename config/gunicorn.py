"""gunicorn's settings: the one definition for the image (docker/entrypoint.sh) and
`make run`, read from the environment. GUNICORN_CMD_ARGS still overrides any of them.

Run: gunicorn --config config/gunicorn.py
"""

import os

wsgi_app = "config.wsgi:application"

# 127.0.0.1 unless told otherwise: `make run` serves this machine only; the image sets
# BIND_HOST=0.0.0.0, because its port is reached from outside its container.
bind = [f"{os.environ.get('BIND_HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"]
# Sync workers, each with one persistent database connection (CONN_MAX_AGE): the
# database sees at most this many connections per server.
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
# Above every database limit a request can meet (DATABASE_LOCK_TIMEOUT_MS,
# DATABASE_STATEMENT_TIMEOUT_MS and, for the CSV export,
# DATABASE_REPORT_STATEMENT_TIMEOUT_MS: 2 minutes), so that a worker waiting for its
# database gets the database's error, answered as a JSON 503, instead of being killed.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "150"))
# Peers whose X-Forwarded-* headers are believed: the local proxy only, unless the
# proxy's address is configured.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
accesslog = "-"
# gunicorn 25.1+ opens a control socket for gunicornc under $XDG_RUNTIME_DIR or
# $HOME/.gunicorn; nothing here uses it, and in the image $HOME (/app) is read-only
# ("Control server error: Permission denied").
control_socket_disable = True
