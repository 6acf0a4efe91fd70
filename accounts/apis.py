from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.login import credentials_check
from accounts.services import token_create, token_revoke, token_revoke_all, user_password_set
from core.schema import THROTTLED, ErrorCode, raises

INVALID_CREDENTIALS = ErrorCode(401, "invalid_credentials", "Wrong username or password.")
DEMO_LOGIN = OpenApiExample(
    "The demo customer (make run)",
    value={"username": "customer", "password": "customer-demo-pass"},
    request_only=True,
)


class LoginInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, trim_whitespace=False)


class LoginApi(APIView):
    """Exchange a username and password for an expiring token. Too many failed attempts
    for one username or from one client lock it out for a while (429)."""

    authentication_classes = ()
    permission_classes = (AllowAny,)

    class LoginOutput(serializers.Serializer):
        token = serializers.CharField()
        expiry = serializers.DateTimeField()

    def get_authenticate_header(self, request):
        return "Token"  # so that bad credentials are a 401, not a 403

    def finalize_response(self, request, response, *args, **kwargs):
        # A token must never be kept by a browser or proxy cache, nor an answer about it.
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(
        request=LoginInput,
        responses={200: LoginOutput, **raises(INVALID_CREDENTIALS, THROTTLED)},
        auth=[],
        examples=[DEMO_LOGIN],
    )
    def post(self, request):
        data = LoginInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = credentials_check(request, **data.validated_data)
        if user is None:
            raise AuthenticationFailed("Wrong username or password.", code="invalid_credentials")
        token, instance = token_create(user=user)
        return Response(self.render(token, instance))

    def render(self, token, instance) -> dict:
        return self.LoginOutput({"token": token, "expiry": instance.expiry}).data


class LegacyLoginApi(LoginApi):
    """The original version's login: ``{"token": ...}``."""

    class LegacyLoginOutput(serializers.Serializer):
        token = serializers.CharField()

    @extend_schema(
        request=LoginInput,
        responses={200: LegacyLoginOutput, **raises(INVALID_CREDENTIALS, THROTTLED)},
        auth=[],
        examples=[DEMO_LOGIN],
    )
    def post(self, request):
        return super().post(request)

    def render(self, token, instance) -> dict:
        return {"token": token}


class LogoutApi(APIView):
    """Revoke the token this request was made with."""

    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        token_revoke(token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LegacyLogoutApi(LogoutApi):
    @extend_schema(request=None, responses={204: None})
    def delete(self, request):
        return self.post(request)

    http_method_names = ["delete", "options"]


class LogoutAllApi(APIView):
    """Revoke every token of the signed-in user, this one included (sign out everywhere)."""

    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        token_revoke_all(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordChangeApi(APIView):
    """Change the signed-in user's password. The new one must pass the password rules;
    every token of the user is then revoked, this one included: sign in again. Wrong
    old passwords count as failed logins (429 once locked out)."""

    class PasswordChangeInput(serializers.Serializer):
        old_password = serializers.CharField(max_length=128, trim_whitespace=False)
        new_password = serializers.CharField(max_length=128, trim_whitespace=False)

        def validate_new_password(self, value):
            try:
                password_validation.validate_password(value, user=self.context["user"])
            except DjangoValidationError as rejected:
                raise serializers.ValidationError(list(rejected.messages)) from rejected
            return value

    @extend_schema(
        request=PasswordChangeInput,
        responses={204: None},
        examples=[
            OpenApiExample(
                "The demo auditor's (make run)",
                value={
                    "old_password": "auditor-demo-pass",
                    "new_password": "a-longer-passphrase-for-the-auditor",
                },
                request_only=True,
            )
        ],
    )
    def post(self, request):
        data = self.PasswordChangeInput(data=request.data, context={"user": request.user})
        data.is_valid(raise_exception=True)
        old = credentials_check(
            request,
            username=request.user.get_username(),
            password=data.validated_data["old_password"],
        )
        if old is None or old.pk != request.user.pk:
            raise serializers.ValidationError({"old_password": ["The password is wrong."]})
        user_password_set(user=request.user, password=data.validated_data["new_password"])
        return Response(status=status.HTTP_204_NO_CONTENT)
