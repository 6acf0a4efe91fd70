import pytest
from django.db import connection


def test_healthz_answers_without_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_answers_200_when_the_database_answers(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


@pytest.fixture
def database_gone(monkeypatch):
    """Point the connection at a port where nothing listens, as if the server had died."""
    connection.ensure_connection()  # the private server's address is filled in first
    connection.close()
    monkeypatch.setitem(connection.settings_dict, "HOST", "127.0.0.1")
    monkeypatch.setitem(connection.settings_dict, "PORT", "1")
    yield
    connection.close()


@pytest.mark.django_db
def test_readyz_answers_503_when_the_database_is_gone(client, database_gone, caplog):
    response = client.get("/readyz")
    assert response.status_code == 503
    # A fixed body: the driver's message (hosts, ports, socket paths) only goes to the log.
    assert response.json() == {
        "status": "unavailable",
        "code": "database_unavailable",
        "detail": "The database is unavailable.",
    }
    assert response["Retry-After"]
    assert "readiness check failed" in caplog.text
    assert "OperationalError" in caplog.text


@pytest.mark.django_db
def test_admin_answers_503_when_the_database_is_gone(client, database_gone):
    client.cookies["sessionid"] = "a-session-the-admin-must-look-up"
    response = client.get("/admin/")
    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"
    assert response["Retry-After"]


def test_openapi_schema_and_docs_are_served_locally(client, db):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"openapi: 3" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()
    assert b"/static/drf_spectacular_sidecar/" in docs.content


def test_the_root_leads_to_the_api_docs(client, db):
    response = client.get("/", follow=True)
    assert response.redirect_chain == [("/api/docs/", 302)]
    assert response.status_code == 200
