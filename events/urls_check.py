"""Webhook URLs may not point into the service's own network: an endpoint on a loopback
or private address would let whoever registers it make the worker call internal
services (server-side request forgery). Tests and closed networks allow them with the
WEBHOOKS_ALLOW_PRIVATE setting."""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from events.exceptions import UnsafeWebhookUrl


def url_check(url: str) -> None:
    """Raises UnsafeWebhookUrl unless ``url`` is http(s) and its host resolves only to
    public addresses (or WEBHOOKS_ALLOW_PRIVATE is on). The worker checks again before
    each send, since a name may resolve differently later."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeWebhookUrl(url=url)
    if getattr(settings, "WEBHOOKS_ALLOW_PRIVATE", False):
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeWebhookUrl("The webhook's host name does not resolve.", url=url) from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_global:
            raise UnsafeWebhookUrl(url=url)
