import os

from django.core.wsgi import get_wsgi_application

from config import server_errors

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()
server_errors.install()  # gunicorn's own error pages in JSON too
