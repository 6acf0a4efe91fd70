import binascii
from dataclasses import dataclass
from hmac import compare_digest

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from knox import auth
from knox.crypto import hash_token
from knox.models import get_token_model
from knox.settings import CONSTANTS
from rest_framework.exceptions import AuthenticationFailed

from accounts.roles import has_role_sql, remember_roles
from core.db import prepared_cursor
from core.fastpath import AUTHENTICATED
from core.instances import saved_instance

User = get_user_model()
AuthToken = get_token_model()

# The user's fields a request reads (its id, name, flags); the password hash and the
# login and joining times are left deferred (read if ever asked for): loading two
# timestamps cost more than the rest of the row.
_DEFERRED = frozenset({"password", "last_login", "date_joined"})
_USER_COLUMNS = [f.column for f in User._meta.concrete_fields if f.name not in _DEFERRED]
_USER_FIELDS = [f.attname for f in User._meta.concrete_fields if f.name not in _DEFERRED]

# One statement on every authenticated request, so it is written out rather than built by
# the ORM each time: the candidate tokens (by their non-secret prefix), their user, and
# the user's group names for the role checks.
_TOKEN_QUERY = f"""
SELECT t.digest, t.expiry, {", ".join(f'u."{c}"' for c in _USER_COLUMNS)},
       ARRAY(SELECT g.name FROM auth_group g
               JOIN auth_user_groups ug ON ug.group_id = g.id
              WHERE ug.user_id = u.id)
  FROM {AuthToken._meta.db_table} t JOIN {User._meta.db_table} u ON u.id = t.user_id
 WHERE t.token_key = %s
"""


@dataclass(frozen=True)
class TokenCheck:
    """A token to be checked by the statement that writes for its user, instead of by a
    query of its own: a round trip less, which was about a quarter of a restock's CPU
    in the app's process. The statement selects the caller from ``caller_sql`` (a CTE) and
    writes only if it found one; if it wrote nothing, the request takes the usual way,
    whose token check (TokenAuthentication) then says what was wrong, if anything.

    The digest is compared by PostgreSQL rather than with compare_digest: the row is
    found by the token's key, and what a comparison's timing could tell is how much of
    the stored SHA-512 digest matches, which says nothing of the token."""

    key: str
    digest: str

    @classmethod
    def of(cls, token: bytes) -> "TokenCheck | None":
        """The check of ``token`` as sent; None if it is not even well formed."""
        try:
            token = token.decode("utf-8")
            return cls(key=token[: CONSTANTS.TOKEN_KEY_LENGTH], digest=hash_token(token))
        except (TypeError, UnicodeDecodeError, binascii.Error):
            return None

    @property
    def params(self) -> dict:
        return {"token_key": self.key, "token_digest": self.digest}


def caller_sql(*roles: str) -> str:
    """A CTE, ``caller AS (...)``, of the user (``user_id``) whose token TokenCheck.params
    name, if it is unexpired, its user active and holding one of ``roles``; else no
    row. As TokenAuthentication and the roles' permission classes decide."""
    return f"""caller AS (
    SELECT u.id AS user_id
      FROM {AuthToken._meta.db_table} AS t JOIN {User._meta.db_table} AS u ON u.id = t.user_id
     WHERE t.token_key = %(token_key)s::varchar AND t.digest = %(token_digest)s::varchar
       AND (t.expiry IS NULL OR t.expiry >= statement_timestamp()) AND u.is_active
       AND {has_role_sql("u", *roles)}
)"""


class TokenAuthentication(auth.TokenAuthentication):
    """knox's hashed, expiring tokens, authenticated in one query.

    knox itself scans the user's other tokens for expired ones on every request and
    reads the user's groups later for permissions; here the token, its user and the
    user's role groups come in one query, and expired tokens are pruned at login.
    """

    def authenticate(self, request):
        # A request core.fastpath has already authenticated (or refused) and then
        # handed to DRF.
        checked = getattr(request._request, AUTHENTICATED, None)
        if isinstance(checked, AuthenticationFailed):
            raise checked
        return checked if checked is not None else super().authenticate(request)

    @staticmethod
    def token_check(token: bytes) -> TokenCheck | None:
        """``token`` to be checked by a write's own statement (core.fastpath)."""
        return TokenCheck.of(token)

    def authenticate_credentials(self, token: bytes):
        try:
            token = token.decode("utf-8")
            digest = hash_token(token)
        except (TypeError, UnicodeDecodeError, binascii.Error) as exc:
            raise AuthenticationFailed("Invalid token.") from exc
        with prepared_cursor() as cursor:
            cursor.execute(_TOKEN_QUERY, [token[: CONSTANTS.TOKEN_KEY_LENGTH]])
            rows = cursor.fetchall()
        for stored_digest, expiry, *user_row, group_names in rows:
            if not compare_digest(digest, stored_digest):
                continue
            if expiry is not None and expiry < timezone.now():
                AuthToken.objects.filter(digest=stored_digest).delete()
                raise AuthenticationFailed("The token has expired.", code="token_expired")
            user = saved_instance(
                User, connection.alias, **dict(zip(_USER_FIELDS, user_row, strict=True))
            )
            if not user.is_active:
                raise AuthenticationFailed("User inactive or deleted.")
            remember_roles(user, group_names)
            token = saved_instance(AuthToken, digest=stored_digest, expiry=expiry, user_id=user.id)
            token._state.fields_cache["user"] = user
            return user, token
        raise AuthenticationFailed("Invalid token.")
