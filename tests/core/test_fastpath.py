"""The lean front of the hottest writes (core.fastpath) answers exactly as the DRF view
behind it: the same request sent to both, on the same data, gets the same status,
headers and body (ids and instants aside, which differ between two writes)."""

import json
import re

import pytest
from django.db import transaction
from django.test import RequestFactory
from rest_framework.views import APIView

from accounts.roles import Role
from accounts.services import token_create
from ledger.apis.receipts import ReceiptCreateApi, receipt_view
from ledger.apis.stock_writes import RestockApi, restock_view
from ledger.services import location_create
from ordering.apis import OrderListCreateApi, order_list_view
from tests.factories import ProductFactory, UserFactory

factory = RequestFactory()
_VOLATILE = re.compile(
    r'"(id|seq|balance_after|recorded_at|created_at|hash|order_line|movement)":("[^"]*"|\d+)'
)


def _token(role) -> str:
    return token_create(user=UserFactory(role=role))[0]


def _answer(view, kwargs, *, body, token, headers) -> tuple:
    """The view's answer to the request, with what it wrote rolled back, so that the
    other view answers the same request on the same data."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    meta = {"CONTENT_TYPE": "application/json", **headers}
    if token is not None:
        meta["HTTP_AUTHORIZATION"] = f"Token {token}"
    request = factory.generic("POST", "/", content, **meta)
    with transaction.atomic():
        response = view(request, **kwargs)
        if hasattr(response, "render"):
            response.render()
        transaction.set_rollback(True)
    text = _VOLATILE.sub(r'"\1":0', response.content.decode())
    volatile = {"ETag"}
    return response.status_code, {k: v for k, v in response.items() if k not in volatile}, text


@pytest.fixture
def drf_calls(monkeypatch):
    """How many requests reached a DRF view."""
    calls = []
    dispatch = APIView.dispatch

    def counting(self, request, *args, **kwargs):
        calls.append(type(self).__name__)
        return dispatch(self, request, *args, **kwargs)

    monkeypatch.setattr(APIView, "dispatch", counting)
    return calls


def _same(fast, drf, kwargs, cases, tokens, drf_calls) -> list[bool]:
    """For each case (body, token role, extra headers): the two answers are equal.
    Returns whether each case was served by the front (no DRF dispatch)."""
    served = []
    for body, role, headers in cases:
        token = tokens.get(role)
        before = len(drf_calls)
        got = _answer(fast, kwargs, body=body, token=token, headers=headers)
        served.append(len(drf_calls) == before)
        expected = _answer(drf, kwargs, body=body, token=token, headers=headers)
        assert got == expected, (body, role, headers)
    return served


@pytest.mark.django_db
def test_restock_answers_as_the_drf_view(drf_calls):
    product = ProductFactory(stock=5)
    location_create(code="SIDE", name="Side")
    tokens = {role: _token(role) for role in (Role.WAREHOUSE, Role.CUSTOMER)}
    tokens["bad"] = "not-a-token"
    plain = [
        ({"quantity": 3}, Role.WAREHOUSE, {}),
        ({"quantity": 1, "reference": "DN-1", "note": "two cartons"}, Role.WAREHOUSE, {}),
        ({"quantity": 10**9, "reference": "", "note": ""}, Role.WAREHOUSE, {}),
        ({"quantity": 1}, Role.WAREHOUSE, {"HTTP_ACCEPT": "application/json"}),
        ({"quantity": 1}, Role.WAREHOUSE, {"HTTP_IDEMPOTENCY_KEY": "k-1"}),
        ({"quantity": 1}, Role.WAREHOUSE, {"HTTP_IDEMPOTENCY_KEY": ""}),
        ({"quantity": 1}, Role.WAREHOUSE, {"HTTP_IDEMPOTENCY_KEY": "k" * 256}),
    ]
    others = [
        ({"quantity": "3"}, Role.WAREHOUSE, {}),
        ({"quantity": 3.0}, Role.WAREHOUSE, {}),
        ({"quantity": True}, Role.WAREHOUSE, {}),
        ({"quantity": 0}, Role.WAREHOUSE, {}),
        ({"quantity": -2}, Role.WAREHOUSE, {}),
        ({"quantity": 10**9 + 1}, Role.WAREHOUSE, {}),
        ({"quantity": None}, Role.WAREHOUSE, {}),
        ({}, Role.WAREHOUSE, {}),
        ([], Role.WAREHOUSE, {}),
        ("3", Role.WAREHOUSE, {}),
        (b"{not json", Role.WAREHOUSE, {}),
        (b'{"quantity": NaN}', Role.WAREHOUSE, {}),
        ({"quantity": 1, "reference": " padded "}, Role.WAREHOUSE, {}),
        ({"quantity": 1, "reference": "x" * 201}, Role.WAREHOUSE, {}),
        ({"quantity": 1, "note": "nul\x00"}, Role.WAREHOUSE, {}),
        ({"quantity": 1, "location": "SIDE"}, Role.WAREHOUSE, {}),
        ({"quantity": 1, "surplus": 1}, Role.WAREHOUSE, {}),
        ({"quantity": 1}, Role.CUSTOMER, {}),
        ({"quantity": 1}, None, {}),
        ({"quantity": 1}, "bad", {}),
        ({"quantity": 1}, Role.WAREHOUSE, {"HTTP_ACCEPT": "text/html"}),
        ({"quantity": 1}, Role.WAREHOUSE, {"HTTP_IF_MATCH": '"1"'}),
        ({"quantity": 1}, Role.WAREHOUSE, {"HTTP_IF_MATCH": "nonsense"}),
    ]
    kwargs = {"product_id": product.id}
    served = _same(restock_view, RestockApi.as_view(), kwargs, plain + others, tokens, drf_calls)
    assert served[: len(plain)] == [True] * len(plain)
    assert not any(served[len(plain) :])

    # Errors raised by the service are answered by the front itself, as DRF would.
    missing = {"product_id": 10**6}
    served = _same(
        restock_view,
        RestockApi.as_view(),
        missing,
        [({"quantity": 1}, Role.WAREHOUSE, {})],
        tokens,
        drf_calls,
    )
    assert served == [True]


@pytest.mark.django_db
def test_order_answers_as_the_drf_view(drf_calls):
    first, second = ProductFactory(stock=10), ProductFactory(stock=2)
    archived = ProductFactory(stock=3, is_active=False)
    tokens = {role: _token(role) for role in (Role.CUSTOMER, Role.WAREHOUSE, Role.AUDITOR)}

    def line(product, quantity):
        return {"product": product.id, "quantity": quantity}

    plain = [
        ({"lines": [line(first, 1)]}, Role.CUSTOMER, {}),
        ({"lines": [line(first, 2), line(second, 1)]}, Role.CUSTOMER, {}),
        ({"lines": [line(first, 1), line(first, 2)]}, Role.CUSTOMER, {}),
        ({"lines": [line(first, 1)]}, Role.WAREHOUSE, {}),
        # Refused by the service: answered by the front with the same error.
        ({"lines": [line(first, 11)]}, Role.CUSTOMER, {}),
        ({"lines": [line(first, 1), line(second, 3)]}, Role.CUSTOMER, {}),
        ({"lines": [line(archived, 1)]}, Role.CUSTOMER, {}),
        ({"lines": [{"product": 10**6, "quantity": 1}]}, Role.CUSTOMER, {}),
    ]
    others = [
        ({"lines": []}, Role.CUSTOMER, {}),
        ({"lines": [line(first, 1)] * 101}, Role.CUSTOMER, {}),
        ({"lines": [line(first, 0)]}, Role.CUSTOMER, {}),
        ({"lines": [line(first, 10_001)]}, Role.CUSTOMER, {}),
        ({"lines": [{"product": "1", "quantity": 1}]}, Role.CUSTOMER, {}),
        ({"lines": [{"product": first.id}]}, Role.CUSTOMER, {}),
        ({"lines": [{**line(first, 1), "note": "x"}]}, Role.CUSTOMER, {}),
        ({"lines": "all"}, Role.CUSTOMER, {}),
        ({"lines": [line(first, 1)], "location": "MAIN"}, Role.CUSTOMER, {}),
        ({"reservation": 1}, Role.CUSTOMER, {}),
        ({}, Role.CUSTOMER, {}),
        ({"lines": [line(first, 1)]}, Role.AUDITOR, {}),
        ({"lines": [line(first, 1)]}, None, {}),
    ]
    served = _same(
        order_list_view, OrderListCreateApi.as_view(), {}, plain + others, tokens, drf_calls
    )
    assert served[: len(plain)] == [True] * len(plain)
    assert not any(served[len(plain) :])


@pytest.mark.django_db
def test_the_front_leaves_other_methods_to_drf(customer, drf_calls):
    ProductFactory(stock=1)
    assert customer.get("/api/v1/orders/").status_code == 200
    assert drf_calls == ["OrderListCreateApi"]


@pytest.mark.django_db
def test_the_schema_still_documents_the_fronted_endpoints(anon):
    schema = anon.get("/api/schema/?format=json").json()
    assert "post" in schema["paths"]["/api/v1/orders/"]
    assert "get" in schema["paths"]["/api/v1/orders/"]
    assert "post" in schema["paths"]["/api/v1/products/{product_id}/restocks/"]


@pytest.mark.django_db
def test_receipt_answers_as_the_drf_view(drf_calls):
    first, second = ProductFactory(stock=1), ProductFactory()
    location_create(code="SIDE", name="Side")
    tokens = {role: _token(role) for role in (Role.WAREHOUSE, Role.AUDITOR)}
    by_id = {"product": first.id, "quantity": 4}
    by_sku = {"sku": second.sku, "quantity": 6}
    plain = [
        ({"reference": "DN-1", "lines": [by_id, by_sku]}, Role.WAREHOUSE, {}),
        ({"reference": "DN-2", "lines": [by_id, by_id, by_sku]}, Role.WAREHOUSE, {}),
        # Refused by the service: answered by the front with the same error.
        ({"reference": "DN-3", "lines": [{"sku": "NOPE", "quantity": 1}]}, Role.WAREHOUSE, {}),
        ({"reference": "DN-4", "lines": [{"product": 10**6, "quantity": 1}]}, Role.WAREHOUSE, {}),
    ]
    others = [
        ({"reference": "", "lines": [by_id]}, Role.WAREHOUSE, {}),
        ({"reference": " DN ", "lines": [by_id]}, Role.WAREHOUSE, {}),
        ({"lines": [by_id]}, Role.WAREHOUSE, {}),
        ({"reference": "DN", "lines": []}, Role.WAREHOUSE, {}),
        ({"reference": "DN", "lines": [{**by_id, "sku": second.sku}]}, Role.WAREHOUSE, {}),
        ({"reference": "DN", "lines": [{"sku": "", "quantity": 1}]}, Role.WAREHOUSE, {}),
        ({"reference": "DN", "lines": [{"product": first.id, "quantity": 0}]}, Role.WAREHOUSE, {}),
        ({"reference": "DN", "lines": [by_id], "location": "SIDE"}, Role.WAREHOUSE, {}),
        ({"reference": "DN", "lines": [by_id]}, Role.AUDITOR, {}),
        ({"reference": "DN", "lines": [by_id]}, Role.WAREHOUSE, {"QUERY_STRING": "dry_run=true"}),
    ]
    served = _same(receipt_view, ReceiptCreateApi.as_view(), {}, plain + others, tokens, drf_calls)
    assert served[: len(plain)] == [True] * len(plain)
    assert not any(served[len(plain) :])


@pytest.mark.django_db
def test_idempotency_keys_replay_and_refuse_as_through_drf(drf_calls):
    """A key's first write, its replay, the same key with another body, through the
    front and through DRF alike (each side with its own key)."""
    product = ProductFactory(stock=5)
    token = _token(Role.WAREHOUSE)
    answers = {}
    for side, view in (("front", restock_view), ("drf", RestockApi.as_view())):
        seen = []
        for body in ({"quantity": 2}, {"quantity": 2}, {"quantity": 3}):
            meta = {
                "CONTENT_TYPE": "application/json",
                "HTTP_AUTHORIZATION": f"Token {token}",
                "HTTP_IDEMPOTENCY_KEY": f"key-{side}",
            }
            request = factory.generic("POST", "/", json.dumps(body).encode(), **meta)
            response = view(request, product_id=product.id)
            if hasattr(response, "render"):
                response.render()
            volatile = {"ETag"}
            headers = {k: v for k, v in response.items() if k not in volatile}
            seen.append((response.status_code, headers, response.content))
        answers[side] = seen
    front, drf = answers["front"], answers["drf"]
    assert [status for status, _, _ in front] == [201, 201, 422]
    assert front[1][1]["Idempotent-Replayed"] == "true"
    assert front[0][2] == front[1][2]  # the replay is the first answer, byte for byte
    for (f_status, f_headers, _), (d_status, d_headers, _) in zip(front, drf, strict=True):
        assert (f_status, f_headers) == (d_status, d_headers)
    assert front[2][2] == drf[2][2]
    assert drf_calls.count("RestockApi") == 3  # the DRF side only
