"""The client's address, trusting X-Forwarded-For only as far as our own proxies wrote it."""

from rest_framework.throttling import BaseThrottle


def client_ip(request) -> str:
    """REST framework's rule, set by NUM_PROXIES: 0 (the default) takes REMOTE_ADDR and
    ignores X-Forwarded-For, which any client can send; N takes the address the N-th
    proxy from us appended to it (the rightmost N-th entry), so entries a client wrote
    before them never count. The login lockout (django-axes) keys on it."""
    return BaseThrottle().get_ident(request)
