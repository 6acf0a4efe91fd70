import binascii
from hmac import compare_digest

from django.contrib.auth.models import Group
from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import OuterRef
from django.utils import timezone
from knox import auth
from knox.crypto import hash_token
from knox.models import get_token_model
from knox.settings import CONSTANTS
from rest_framework.exceptions import AuthenticationFailed

from accounts.roles import remember_roles


class TokenAuthentication(auth.TokenAuthentication):
    """knox's hashed, expiring tokens, authenticated in one query.

    knox itself scans the user's other tokens for expired ones on every request and
    reads the user's groups later for permissions; here the token, its user and the
    user's role groups come in one query, and expired tokens are pruned at login.
    """

    def authenticate_credentials(self, token: bytes):
        token = token.decode("utf-8")
        try:
            digest = hash_token(token)
        except (TypeError, binascii.Error) as exc:
            raise AuthenticationFailed("Invalid token.") from exc
        groups = Group.objects.filter(user=OuterRef("user_id")).values("name")
        candidates = (
            get_token_model()
            .objects.filter(token_key=token[: CONSTANTS.TOKEN_KEY_LENGTH])
            .select_related("user")
            .annotate(group_names=ArraySubquery(groups))
        )
        for auth_token in candidates:
            if not compare_digest(digest, auth_token.digest):
                continue
            if auth_token.expiry is not None and auth_token.expiry < timezone.now():
                auth_token.delete()
                raise AuthenticationFailed("The token has expired.", code="token_expired")
            user = auth_token.user
            if not user.is_active:
                raise AuthenticationFailed("User inactive or deleted.")
            remember_roles(user, auth_token.group_names)
            return user, auth_token
        raise AuthenticationFailed("Invalid token.")
