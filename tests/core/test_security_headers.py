"""Cache-Control: no-store where a token is involved; a Content-Security-Policy on the
HTML pages that the pages themselves satisfy."""

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.contrib.staticfiles import finders

from accounts.roles import Role
from tests.factories import PASSWORD, ProductFactory, UserFactory

pytestmark = pytest.mark.django_db


# Cache-Control: no-store


@pytest.mark.parametrize("path", ["/api/v1/auth/login/", "/auth/login/"])
@pytest.mark.parametrize("password", [PASSWORD, "wrong"])
def test_login_answers_are_never_stored(anon, path, password):
    UserFactory(username="alice")
    response = anon.post(path, {"username": "alice", "password": password}, format="json")
    assert response.status_code in (200, 401)
    assert response["Cache-Control"] == "no-store"


def test_every_answer_to_a_token_is_never_stored(customer, auditor):
    product = ProductFactory(stock=3)
    for client, path in [
        (customer, "/api/v1/products/"),
        (customer, f"/api/v1/products/{product.id}/"),
        (customer, "/store/products"),
        (customer, "/api/v1/orders/999999/"),  # errors too
        (auditor, "/api/v1/movements/"),
        (auditor, "/api/v1/movements/export.csv"),
    ]:
        response = client.get(path)
        assert response["Cache-Control"] == "no-store", path
    assert customer.post("/api/v1/auth/logout/")["Cache-Control"] == "no-store"


def test_answers_without_credentials_keep_their_caching(anon):
    assert "Cache-Control" not in anon.get("/healthz")


# Content-Security-Policy


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: sources for name, *sources in directives}


class Page(HTMLParser):
    """The page's script tags: their src, or their inline code."""

    def __init__(self):
        super().__init__()
        self.scripts: list[dict] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self.scripts.append({**dict(attrs), "code": ""})
            self._in_script = True

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1]["code"] += data


def scripts_of(response) -> list[dict]:
    page = Page()
    page.feed(response.content.decode())
    return page.scripts


def assert_allowed_by_script_src(script: dict, directives: dict) -> None:
    """The policy's script-src is 'self' only: same-origin files, nothing inline."""
    assert directives["script-src"] == ["'self'"]
    assert not script["code"].strip(), f"an inline script: {script['code'][:80]!r}"
    source = urlsplit(script["src"])
    assert not source.scheme and not source.netloc, script["src"]  # same origin


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(role=Role.ADMIN))
    return client


def test_the_docs_page_has_a_policy_its_scripts_satisfy(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    directives = policy(response)
    assert directives["default-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert "'unsafe-eval'" not in directives["script-src"]
    # Swagger UI fetches the schema and "Try it out" calls from this origin.
    assert directives["connect-src"] == ["'self'"]

    scripts = scripts_of(response)
    assert len(scripts) == 3  # Swagger UI's bundle, its preset, the start script
    for script in scripts:
        assert_allowed_by_script_src(script, directives)
        path = urlsplit(script["src"]).path
        if path.startswith("/static/"):
            assert finders.find(path.removeprefix("/static/")), path
        else:  # the start script, served by the docs view itself
            start = client.get(script["src"])
            assert start.status_code == 200
            assert start["Content-Type"].startswith("application/javascript")
            assert "SwaggerUIBundle" in start.content.decode()
            assert "/api/schema/" in start.content.decode()


@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/catalog/product/",
        "/admin/catalog/product/add/",
        "/admin/ledger/movement/",
        "/admin/auth/user/",
    ],
)
def test_admin_pages_have_a_policy_their_scripts_satisfy(admin_client, path):
    ProductFactory(stock=2)
    response = admin_client.get(path)
    assert response.status_code == 200
    directives = policy(response)
    assert directives["default-src"] == ["'self'"]
    assert directives["form-action"] == ["'self'"]
    for script in scripts_of(response):
        assert_allowed_by_script_src(script, directives)


def test_the_admin_login_page_has_the_policy(client):
    response = client.get("/admin/login/")
    assert response.status_code == 200
    directives = policy(response)
    assert directives["script-src"] == ["'self'"]
    for script in scripts_of(response):
        assert_allowed_by_script_src(script, directives)


def test_json_answers_skip_the_policy(customer):
    assert "Content-Security-Policy" not in customer.get("/api/v1/products/")
