from django.urls import path

from events.apis import feed, webhooks

urlpatterns = [
    path("events/", feed.event_feed, name="event-feed"),
    path("events/stream", feed.event_stream, name="event-stream"),
    path("webhooks/", webhooks.WebhookListApi.as_view(), name="webhook-list"),
    path("webhooks/<int:endpoint_id>/", webhooks.WebhookDetailApi.as_view(), name="webhook"),
    path(
        "webhooks/<int:endpoint_id>/rotate-secret/",
        webhooks.WebhookRotateApi.as_view(),
        name="webhook-rotate",
    ),
    path(
        "webhooks/<int:endpoint_id>/deliveries/",
        webhooks.DeliveryListApi.as_view(),
        name="webhook-deliveries",
    ),
    path(
        "webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>/retry/",
        webhooks.DeliveryRetryApi.as_view(),
        name="webhook-delivery-retry",
    ),
]
