from core.exceptions import InvalidInput, NotFound


class UnsafeWebhookUrl(InvalidInput):
    """An endpoint URL that is not http(s), or whose host is (or resolves to) a
    loopback, private, link-local or otherwise non-public address, unless the
    WEBHOOKS_ALLOW_PRIVATE setting allows those."""

    code = "unsafe_webhook_url"
    detail = "Webhook URLs must be http(s) on a public address."
    schema_example = {"url": "http://127.0.0.1/hook"}


class UnknownEventType(InvalidInput):
    code = "unknown_event_type"
    detail = "No such event type."
    schema_example = {"types": ["stock.teleported"]}


class EndpointNotFound(NotFound):
    code = "webhook_not_found"
    detail = "No such webhook endpoint."
    schema_example = {"endpoint": 999}


class DeliveryNotFound(NotFound):
    code = "delivery_not_found"
    detail = "No such delivery of this endpoint."
    schema_example = {"delivery": 999}
