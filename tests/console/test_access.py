"""Who may open the console and post its forms."""

import pytest
from django.test import Client

from accounts.roles import Role
from ledger.models import Movement
from tests.factories import PASSWORD, ProductFactory, UserFactory

PAGES = [
    "/console/",
    "/console/products/",
    "/console/movements/",
    "/console/transfers/",
    "/console/reservations/",
    "/console/orders/",
    "/console/verify/",
]


@pytest.mark.django_db
@pytest.mark.parametrize("path", PAGES)
def test_a_visitor_is_sent_to_the_sign_in_page(path):
    response = Client().get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/console/sign-in/?next=")


@pytest.mark.parametrize("path", PAGES)
def test_a_customer_is_refused_every_page(customer_session, path):
    response = customer_session.get(path)
    assert response.status_code == 403
    assert "for warehouse staff and auditors" in response.content.decode()


@pytest.mark.parametrize("path", PAGES)
def test_staff_and_auditors_open_every_page(staff, auditor_session, path):
    assert staff.get(path).status_code == 200
    assert auditor_session.get(path).status_code == 200


def test_a_customer_cannot_sign_in_to_the_console(db):
    user = UserFactory(role=Role.CUSTOMER)
    client = Client()
    response = client.post("/console/sign-in/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 200
    assert "for warehouse staff and auditors" in response.content.decode()
    assert client.get("/console/").status_code == 302


def test_staff_sign_in_with_a_session_and_the_front_door_leads_to_the_console(db):
    user = UserFactory(role=Role.WAREHOUSE)
    client = Client()
    assert client.get("/")["Location"] == "/api/docs/"
    response = client.post("/console/sign-in/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/console/"
    assert client.get("/")["Location"] == "/console/"


def test_sign_in_needs_the_csrf_token(db):
    user = UserFactory(role=Role.WAREHOUSE)
    client = Client(enforce_csrf_checks=True)
    response = client.post("/console/sign-in/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 403


def test_an_auditor_sees_no_forms_and_is_refused_a_post(auditor_session):
    product = ProductFactory(stock=5)
    page = auditor_session.get(f"/console/products/{product.id}/").content.decode()
    assert '<form method="post" action="/console/products' not in page
    assert "Receive delivery" not in auditor_session.get("/console/").content.decode()
    response = auditor_session.post(
        f"/console/products/{product.id}/adjust/",
        {"location": "MAIN", "quantity": "-1", "reason": "lost", "form_key": "abc"},
    )
    assert response.status_code == 403
    assert auditor_session.post("/console/deliveries/new/", {}).status_code == 403
    assert Movement.objects.filter(product_id=product.id).count() == 1


def test_the_csv_link_works_with_the_session(staff, customer_session):
    product = ProductFactory(stock=5)
    response = staff.get(f"/console/movements.csv?product={product.id}")
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    assert body.splitlines()[0].startswith("id,product,sku,kind")
    assert len(body.splitlines()) == 2
    assert customer_session.get("/console/movements.csv").status_code == 403
