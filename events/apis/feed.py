"""The event feed: ``GET /api/v1/events/`` (a page, or a long poll with ``wait``) and
``GET /api/v1/events/stream`` (Server-Sent Events).

Each request is answered by passes of one DRF view (``EventFeedApi``: authentication,
roles, input, a page below the safe mark, errors as everywhere else) that never waits.
Between passes, the async views wait on the process's HeadWatcher, holding no thread
and no database connection; under an ASGI server (the ``events`` process) a thousand
followers cost one event loop. A sync (WSGI) worker never waits: there a long poll is
answered at once and a stream ends after the events it has (its client reconnects a
second later with Last-Event-ID), so that followers pointed at gunicorn cannot take its
workers; the deployment routes /api/v1/events/ to the ASGI process (docs/events.md).
"""

import copy
import json
import threading
import time

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.http import StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import CanFollowEvents
from core.rendering import Renderer
from events.selectors import MAX_LIMIT, event_page
from events.types import REGISTRY
from events.watch import watcher

MAX_WAIT = 30
STREAM_KEEPALIVE = 15


class EventOutput(serializers.Serializer):
    id = serializers.IntegerField(help_text="The global position: resume after it.")
    type = serializers.CharField(help_text="stock.restocked, order.placed, ... (docs/events.md)")
    version = serializers.IntegerField(help_text="The version of the type's data schema.")
    occurred_at = serializers.DateTimeField()
    subject = serializers.CharField(
        help_text="stock/<sku>/<location>, product/<sku> or order/<id>."
    )
    data = serializers.JSONField(help_text="The type's fields (components EventData*).")


render_event = Renderer(EventOutput)


class EventPageOutput(serializers.Serializer):
    results = EventOutput(many=True)
    next_after = serializers.IntegerField(
        help_text="Pass as `after` to continue: nothing at or below it is still to come."
    )


class FeedInput(serializers.Serializer):
    after = serializers.IntegerField(min_value=0, default=0)
    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, default=100)
    types = serializers.CharField(required=False, help_text="Comma-separated event types.")
    wait = serializers.FloatField(min_value=0, max_value=MAX_WAIT, default=0)

    def validate_types(self, value: str) -> list[str]:
        names = sorted({name.strip() for name in value.split(",") if name.strip()})
        unknown = [name for name in names if name not in REGISTRY]
        if unknown:
            raise serializers.ValidationError(f"Unknown event types: {', '.join(unknown)}.")
        return names


FEED_PARAMETERS = [
    OpenApiParameter("after", int, description="Events after this position (0: from the start)."),
    OpenApiParameter("limit", int, description=f"At most this many (1 to {MAX_LIMIT}; 100)."),
    OpenApiParameter("types", str, description="Only these types, comma-separated."),
    OpenApiParameter(
        "wait",
        float,
        description=f"Long poll: answer as soon as there is an event, or empty after this"
        f" many seconds (at most {MAX_WAIT}).",
    ),
]


class EventFeedApi(APIView):
    """Events after position ``after``, in position order: a position once read is
    never preceded by an event that commits later. With ``wait``, a long poll. The
    integration role and auditors; customers and warehouse staff get 403."""

    permission_classes = (CanFollowEvents,)

    @extend_schema(
        operation_id="events_list",
        parameters=FEED_PARAMETERS,
        responses=EventPageOutput,
    )
    def get(self, request):
        params = FeedInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        values = params.validated_data
        page = event_page(after=values["after"], limit=values["limit"], types=values.get("types"))
        response = Response(
            {"results": render_event.many(page.events), "next_after": page.next_after}
        )
        # For the async view around this one: whether and where to wait.
        response.feed_page = page
        response.feed_wait = values["wait"]
        response.feed_types = values.get("types")
        return response


_feed_pass_view = EventFeedApi.as_view()


# Passes running at once in this process, each on a database connection of its own
# (under ASGI every request runs its sync code on a thread of its own): a burst of
# followers reconnecting at once queues here instead of exhausting the database's
# connections.
_passes = threading.BoundedSemaphore(settings.EVENTS_MAX_CONCURRENT_PASSES)


def _feed_pass(request, after: int | None = None):
    """One pass of EventFeedApi, rendered; ``after`` overrides the query's. The
    connection is closed after it (outside a transaction: tests run in one), so that a
    waiting follower holds none."""
    if after is not None:
        request = copy.copy(request)
        request.GET = request.GET.copy()
        request.GET["after"] = str(after)
    with _passes:
        try:
            response = _feed_pass_view(request)
            response.render()
        finally:
            if not connection.in_atomic_block:
                connection.close()
    return response


_feed_pass_async = sync_to_async(_feed_pass)


def _served_by_wsgi(request) -> bool:
    """Whether a sync worker (gunicorn's) serves the request: one that must not wait."""
    return not isinstance(request, ASGIRequest)


@csrf_exempt
async def event_feed(request):
    response = await _feed_pass_async(request)
    page = getattr(response, "feed_page", None)
    if page is None or page.events or not response.feed_wait or _served_by_wsgi(request):
        return response
    deadline = time.monotonic() + response.feed_wait
    while (left := deadline - time.monotonic()) > 0:
        if not await watcher.wait_beyond(page.next_after, left, response.feed_types):
            break
        response = await _feed_pass_async(request, page.next_after)
        page = getattr(response, "feed_page", None)
        if page is None or page.events:
            return response
    return response


# drf-spectacular documents the async view as the DRF view it runs.
event_feed.cls, event_feed.initkwargs = EventFeedApi, {}


class EventStreamApi(EventFeedApi):
    """Server-Sent Events: every event after ``Last-Event-ID`` (or ``after``) as it
    commits, each with ``id:`` (its position), ``event:`` (its type) and ``data:`` (the
    envelope as JSON); a comment line every 15 s keeps the connection open. Reconnect
    with the last id seen: nothing is missed or repeated. Same roles as the feed."""

    @extend_schema(
        operation_id="events_stream",
        parameters=[
            *FEED_PARAMETERS[:3],
            OpenApiParameter(
                "Last-Event-ID",
                int,
                location=OpenApiParameter.HEADER,
                description="Resume after this position (wins over `after`).",
            ),
        ],
        responses={
            (200, "text/event-stream"): OpenApiResponse(
                # Each event of the stream, as its fields.
                {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string", "description": "The event's position."},
                        "event": {"type": "string", "description": "The event's type."},
                        "data": {"type": "string", "description": "The envelope, as JSON."},
                    },
                    "required": ["id", "event", "data"],
                },
                description="`id: <position>`, `event: <type>`, `data: {...}`",
            )
        },
    )
    def get(self, request):  # documentation only: event_stream serves it
        return super().get(request)


def _sse(events) -> bytes:
    chunks = []
    for event in events:
        body = json.dumps(render_event(event), cls=DjangoJSONEncoder, separators=(",", ":"))
        chunks.append(f"id: {event.id}\nevent: {event.type}\ndata: {body}\n\n")
    return "".join(chunks).encode()


@csrf_exempt
async def event_stream(request):
    last_id = request.headers.get("Last-Event-ID", "").strip()
    after = int(last_id) if last_id.isdigit() else None
    response = await _feed_pass_async(request, after)
    page = getattr(response, "feed_page", None)
    if page is None:  # an error: 400, 401, 403, ...
        return response

    if _served_by_wsgi(request):
        # What there is now, then the end: EventSource reconnects after `retry`.
        stream = StreamingHttpResponse([b"retry: 1000\n\n" + _sse(page.events)])
        stream["Content-Type"] = "text/event-stream"
        stream["Cache-Control"] = "no-store"
        return stream

    async def events():
        nonlocal page
        yield b"retry: 1000\n\n" + _sse(page.events)
        while True:
            full = len(page.events) >= 100  # more may be ready: no wait
            waited = full or await watcher.wait_beyond(
                page.next_after, STREAM_KEEPALIVE, response.feed_types
            )
            if not waited:
                yield b": keep-alive\n\n"
                continue
            following = await _feed_pass_async(request, page.next_after)
            if getattr(following, "feed_page", None) is None:
                return  # the token expired or was revoked meanwhile
            page = following.feed_page
            if page.events:
                yield _sse(page.events)

    stream = StreamingHttpResponse(events(), content_type="text/event-stream")
    stream["Cache-Control"] = "no-store"
    stream["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return stream


event_stream.cls, event_stream.initkwargs = EventStreamApi, {}
