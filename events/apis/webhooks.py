"""Webhook endpoints: register, list, delete, rotate the secret; their deliveries: list,
retry one. Admins and the integration role."""

from datetime import timedelta

from django.db import transaction
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import ManagesWebhooks
from core.apis import ListApi
from core.rendering import Renderer
from core.schema import raises
from events.exceptions import (
    DeliveryNotFound,
    EndpointNotFound,
    UnknownEventType,
    UnsafeWebhookUrl,
)
from events.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from events.services import (
    webhook_delivery_retry,
    webhook_endpoint_create,
    webhook_secret_rotate,
)


class EndpointOutput(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.URLField()
    types = serializers.ListField(child=serializers.CharField(), help_text="Empty: every type.")
    description = serializers.CharField()
    is_active = serializers.BooleanField(help_text="Off once the endpoint answered 410 Gone.")
    disabled_reason = serializers.CharField()
    created_at = serializers.DateTimeField()


class EndpointWithSecretOutput(EndpointOutput):
    secret = serializers.CharField(
        help_text="whsec_ and base64: verify `webhook-signature` with it (Standard Webhooks)."
    )
    previous_secret_expires_at = serializers.DateTimeField(
        allow_null=True, help_text="Until then, the previous secret signs too."
    )


class DeliveryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    event = serializers.IntegerField(source="position", help_text="The event's position.")
    status = serializers.ChoiceField(choices=DeliveryStatus.choices)
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField()
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField()
    delivered_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


render_endpoint = Renderer(EndpointOutput)
render_endpoint_secret = Renderer(EndpointWithSecretOutput)
render_delivery = Renderer(DeliveryOutput)


class WebhookInput(serializers.Serializer):
    url = serializers.URLField(max_length=500)
    types = serializers.ListField(
        child=serializers.CharField(max_length=48), required=False, default=list
    )
    description = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default=""
    )


class RotateSecretInput(serializers.Serializer):
    grace_seconds = serializers.IntegerField(
        min_value=0, max_value=7 * 24 * 3600, required=False, default=24 * 3600
    )


class WebhookListApi(ListApi):
    """Webhook endpoints. POST registers one: ``{url, types, description}`` (``types``
    empty: every type); the answer holds its ``whsec_`` secret. It receives the events
    committed from then on, each POSTed with the Standard Webhooks headers."""

    permission_classes = (ManagesWebhooks,)
    queryset = WebhookEndpoint.objects.none()
    filter_backends = ()

    @extend_schema(responses=EndpointOutput(many=True))
    def get(self, request):
        return self.paginated(WebhookEndpoint.objects.order_by("id"), render_endpoint)

    @extend_schema(
        request=WebhookInput,
        examples=[
            OpenApiExample(
                "Stock and orders to an ERP",
                value={
                    "url": "https://erp.example.com/hooks/inventory",
                    "types": ["stock.consumed", "order.placed", "order.cancelled"],
                    "description": "ERP stock sync",
                },
                request_only=True,
            )
        ],
        responses={
            201: EndpointWithSecretOutput,
            **raises(UnsafeWebhookUrl, UnknownEventType),
        },
    )
    def post(self, request):
        given = WebhookInput(data=request.data)
        given.is_valid(raise_exception=True)
        endpoint = webhook_endpoint_create(**given.validated_data, created_by_id=request.user.id)
        return Response(render_endpoint_secret(endpoint), status=status.HTTP_201_CREATED)


def _endpoint(endpoint_id: int) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        raise EndpointNotFound(endpoint=endpoint_id)
    return endpoint


class WebhookDetailApi(APIView):
    """One endpoint, with its secret; DELETE removes it and its deliveries."""

    permission_classes = (ManagesWebhooks,)

    @extend_schema(responses={200: EndpointWithSecretOutput, **raises(EndpointNotFound)})
    def get(self, request, endpoint_id: int):
        return Response(render_endpoint_secret(_endpoint(endpoint_id)))

    @extend_schema(responses={204: None, **raises(EndpointNotFound)})
    def delete(self, request, endpoint_id: int):
        with transaction.atomic():
            _endpoint(endpoint_id).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookRotateApi(APIView):
    """A new secret; the previous one keeps signing (a second signature in
    ``webhook-signature``) for ``grace_seconds`` (default a day), so the receiver can
    switch over without losing a delivery."""

    permission_classes = (ManagesWebhooks,)

    @extend_schema(
        request=RotateSecretInput,
        examples=[
            OpenApiExample("An hour's grace", value={"grace_seconds": 3600}, request_only=True)
        ],
        responses={200: EndpointWithSecretOutput, **raises(EndpointNotFound)},
    )
    def post(self, request, endpoint_id: int):
        given = RotateSecretInput(data=request.data)
        given.is_valid(raise_exception=True)
        endpoint = webhook_secret_rotate(
            endpoint_id=endpoint_id, grace=timedelta(seconds=given.validated_data["grace_seconds"])
        )
        return Response(render_endpoint_secret(endpoint))


class DeliveryListApi(ListApi):
    """An endpoint's deliveries, newest event first; ``status=pending|delivered|dead|
    disabled``."""

    permission_classes = (ManagesWebhooks,)
    queryset = WebhookDelivery.objects.none()
    filter_backends = ()

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=[c for c, _ in DeliveryStatus.choices])],
        responses=DeliveryOutput(many=True),
    )
    def get(self, request, endpoint_id: int):
        _endpoint(endpoint_id)
        deliveries = WebhookDelivery.objects.filter(endpoint_id=endpoint_id).order_by("-position")
        wanted = request.query_params.get("status")
        if wanted:
            if wanted not in DeliveryStatus.values:
                raise serializers.ValidationError({"status": ["Not a delivery status."]})
            deliveries = deliveries.filter(status=wanted)
        return self.paginated(deliveries, render_delivery)


class DeliveryRetryApi(APIView):
    """Send a delivery again now (a dead letter, or one waiting for its backoff), with
    a fresh set of retries; re-enables the endpoint if a 410 had disabled it."""

    permission_classes = (ManagesWebhooks,)

    @extend_schema(
        request=None,
        responses={200: DeliveryOutput, **raises(EndpointNotFound, DeliveryNotFound)},
    )
    def post(self, request, endpoint_id: int, delivery_id: int):
        _endpoint(endpoint_id)
        delivery = webhook_delivery_retry(endpoint_id=endpoint_id, delivery_id=delivery_id)
        return Response(render_delivery(delivery))
