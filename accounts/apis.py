from django.contrib.auth import authenticate
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from accounts.services import token_create, token_revoke
from core.schema import ErrorCode, raises

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
    """Exchange a username and password for an expiring token (throttled)."""

    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_scope = "login"
    throttle_classes = (ScopedRateThrottle,)

    class LoginOutput(serializers.Serializer):
        token = serializers.CharField()
        expiry = serializers.DateTimeField()

    def get_authenticate_header(self, request):
        return "Token"  # so that bad credentials are a 401, not a 403

    @extend_schema(
        request=LoginInput,
        responses={200: LoginOutput, **raises(INVALID_CREDENTIALS)},
        auth=[],
        examples=[DEMO_LOGIN],
    )
    def post(self, request):
        data = LoginInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(request, **data.validated_data)
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
        responses={200: LegacyLoginOutput, **raises(INVALID_CREDENTIALS)},
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
