"""The console in a real browser (Chromium through Playwright) against a live server
on the test database: what warehouse staff, auditors and customers see and can do."""

import os
import re

import pytest
from playwright.sync_api import expect, sync_playwright

from accounts.roles import Role
from catalog.models import Product
from demo.services import demo_load
from ledger.models import Movement, Receipt, StockBalance
from ledger.services import stock_restock
from ordering.models import Order
from ordering.services import order_place
from tests.console.browser import SCREENSHOTS, VIEWPORT, launch_options
from tests.factories import PASSWORD, ProductFactory, UserFactory


@pytest.fixture(scope="module")
def browser():
    # Playwright's sync API runs an event loop in this thread, which Django takes for
    # an async context; the tests' own database calls are synchronous all the same.
    saved = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        yield from _chromium()
    finally:
        if saved is None:
            del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = saved


def _chromium():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(**launch_options())
        yield chromium
        chromium.close()


@pytest.fixture
def shots(tmp_path):
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS
    return tmp_path


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=VIEWPORT)
    opened = context.new_page()
    yield opened
    context.close()


def sign_in(page, server, role):
    user = UserFactory(role=role)
    page.goto(f"{server.url}/console/sign-in/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():  # to the console, or back to the form if refused
        page.get_by_role("button", name="Sign in").click()
    return user


def fits(page) -> bool:
    """No sideways scrolling."""
    return page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")


def check_page(page, shots, name: str | None, title: str) -> None:
    """The page says where you are, fits the width, labels every input, and is
    screenshotted (under ``name``, if given)."""
    assert title in page.title()
    assert fits(page), f"{name} scrolls sideways"
    unlabelled = page.evaluate(
        """[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
             .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
             .map(e => e.name)"""
    )
    assert unlabelled == []
    if name:
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


def chart_last(page) -> int:
    chart = page.locator("#balance-chart")
    chart.locator("canvas").wait_for()
    return int(chart.get_attribute("data-last"))


def test_staff_receive_a_two_line_delivery_and_see_balances_and_chart_move(
    committed_db, live_server, page, shots
):
    pen = ProductFactory(sku="PEN-BLUE", name="Blue pen", stock=4, reorder_level=5)
    pad = ProductFactory(sku="PAD-A5", name="A5 pad", stock=10, reorder_level=2)
    sign_in(page, live_server, Role.WAREHOUSE)
    assert page.url.endswith("/console/")
    check_page(page, shots, None, "Dashboard")
    assert page.get_by_role("link", name="PEN-BLUE").first.is_visible()  # low stock

    page.goto(f"{live_server.url}/console/products/{pen.id}/")
    before = chart_last(page)
    assert before == 4

    page.get_by_role("link", name="Receive delivery").click()
    check_page(page, shots, None, "Receive a delivery")
    page.get_by_label("Delivery note").fill("DN-2041")
    page.get_by_label("Line 1 sku").fill("PEN-BLUE")
    page.get_by_label("Line 1 units").fill("20")
    page.get_by_label("Line 2 sku").fill("PAD-A5")
    page.get_by_label("Line 2 units").fill("6")
    page.get_by_role("button", name="Receive").click()
    assert "Received 26 units of 2 products at MAIN" in page.locator(".messages").inner_text()
    check_page(page, shots, None, "Movements")

    page.goto(f"{live_server.url}/console/products/?q=P")
    check_page(page, shots, None, "Products")
    assert page.locator('tbody[data-sku="PEN-BLUE"] td.num').nth(1).inner_text() == "24"
    assert page.locator('tbody[data-sku="PAD-A5"] td.num').nth(1).inner_text() == "16"

    page.goto(f"{live_server.url}/console/products/{pen.id}/")
    assert chart_last(page) == 24
    check_page(page, shots, None, "PEN-BLUE")
    assert page.locator("#figures tr[data-location=MAIN] .on-hand").inner_text() == "24"
    assert Receipt.objects.count() == 1
    assert pad.id


def test_a_double_submit_posts_once(committed_db, live_server, page):
    ProductFactory(sku="PEN-BLUE", stock=1)
    sign_in(page, live_server, Role.WAREHOUSE)
    page.goto(f"{live_server.url}/console/deliveries/new/")
    page.get_by_label("Delivery note").fill("DN-1")
    page.get_by_label("Line 1 sku").fill("PEN-BLUE")
    page.get_by_label("Line 1 units").fill("3")
    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    # Two submits before the first answer arrives, as a double click sends them.
    page.evaluate(
        """() => { const f = document.getElementById('delivery-form');
                   f.requestSubmit(); setTimeout(() => f.submit(), 0); }"""
    )
    # The second submit aborts the first's navigation: wait for where the page settles.
    expect(page).to_have_url(re.compile(r"/console/movements/\?receipt="), timeout=15_000)
    assert len(posts) == 2
    page.reload()  # a GET: nothing is posted again
    page.go_back()
    assert Receipt.objects.count() == 1
    assert Movement.objects.filter(kind="restock", reference="DN-1").count() == 1


def test_an_adjustment_below_zero_shows_the_shortfall_next_to_the_field(
    committed_db, live_server, page, shots
):
    product = ProductFactory(sku="PEN-BLUE", stock=3)
    sign_in(page, live_server, Role.WAREHOUSE)
    page.goto(f"{live_server.url}/console/products/{product.id}/")
    form = page.locator("#adjust-form")
    form.get_by_label("Units").fill("-5")
    form.get_by_label("Reason").select_option("damaged")
    form.get_by_role("button", name="Post adjustment").click()
    error = page.locator("#adjust_quantity-error")
    assert error.inner_text() == "Only 3 available there; this takes 5: 2 short."
    # Next to the field: right below the input it belongs to.
    box, field = error.bounding_box(), page.locator("#adjust_quantity").bounding_box()
    assert 0 <= box["y"] - (field["y"] + field["height"]) < 20
    assert page.locator("#adjust_quantity").input_value() == "-5"
    check_page(page, shots, "adjustment-refused", "PEN-BLUE")
    assert Movement.objects.filter(product_id=product.id).count() == 1


def test_an_auditor_sees_no_forms_and_is_refused_a_post(committed_db, live_server, page, shots):
    product = ProductFactory(sku="PEN-BLUE", stock=3)
    sign_in(page, live_server, Role.AUDITOR)
    for path, title, name in [
        ("/console/", "Dashboard", None),
        (f"/console/products/{product.id}/", "PEN-BLUE", None),
        ("/console/transfers/", "Transfers", None),
        ("/console/reservations/", "Held reservations", None),
        ("/console/orders/", "Orders", None),
        ("/console/verify/?run=1", "Verify the ledger", None),
    ]:
        page.goto(live_server.url + path)
        assert page.locator("form[method=post]:not(.signout)").count() == 0
        check_page(page, shots, name, title)
    assert "No problem found." in page.locator("#verify-result").inner_text()
    assert page.get_by_role("link", name="Receive delivery").count() == 0
    # Posting anyway, with the session's CSRF token: refused.
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    response = page.request.post(
        f"{live_server.url}/console/products/{product.id}/adjust/",
        form={"location": "MAIN", "quantity": "1", "reason": "found", "form_key": "k1"},
        headers={"X-CSRFToken": token, "Referer": live_server.url},
    )
    assert response.status == 403
    assert Movement.objects.filter(product_id=product.id).count() == 1


def test_a_customer_cannot_open_the_console(committed_db, live_server, page, shots):
    sign_in(page, live_server, Role.CUSTOMER)
    assert "/console/sign-in/" in page.url
    assert "for warehouse staff and auditors" in page.locator(".error").inner_text()
    check_page(page, shots, "sign-in-refused", "Sign in")
    response = page.goto(f"{live_server.url}/console/")
    assert "/console/sign-in/" in page.url
    assert response.status == 200


def test_the_console_is_reachable_by_keyboard(committed_db, live_server, page):
    sign_in(page, live_server, Role.WAREHOUSE)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    names = []
    for _ in range(4):
        page.keyboard.press("Tab")
        names.append(page.evaluate("document.activeElement.textContent"))
    assert names == ["Dashboard", "Products", "Receive delivery", "Transfers"]
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/console/transfers/$"))


def test_every_page_with_the_demo_data_fits_1366_by_768(committed_db, live_server, page, shots):
    """The screenshots in docs/console/ (UPDATE_SCREENSHOTS=1): each page as warehouse
    staff see it with the demo data and some weeks of trade."""
    users = demo_load()
    customer = UserFactory(role=Role.CUSTOMER)
    product = Product.objects.get(sku="TAP-19")
    stock_restock(product_id=product.id, quantity=20, actor_id=None, reference="DN-2050")
    for units in (3, 2, 4, 1, 5):
        order_place(customer_id=customer.id, lines=[(product.id, units)])
    stock_restock(product_id=product.id, quantity=12, actor_id=None, reference="DN-2055")
    order_place(customer_id=customer.id, lines=[(product.id, 6)])
    username, password = users["warehouse"]
    page.goto(f"{live_server.url}/console/sign-in/")
    check_page(page, shots, "sign-in", "Sign in")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    order = Order.objects.order_by("id").first()
    for path, title, name in [
        ("/console/", "Dashboard", "dashboard"),
        ("/console/products/", "Products", "products"),
        (f"/console/products/{product.id}/", "TAP-19", "product"),
        ("/console/deliveries/new/", "Receive a delivery", "delivery"),
        ("/console/transfers/", "Transfers", "transfers"),
        ("/console/reservations/", "Held reservations", "reservations"),
        ("/console/movements/", "Movements", "movements"),
        ("/console/orders/", "Orders", "orders"),
        (f"/console/orders/{order.id}/", f"Order {order.id}", "order"),
        ("/console/verify/?run=1", "Verify the ledger", "verify"),
    ]:
        page.goto(live_server.url + path)
        check_page(page, shots, name, title)
    page.goto(f"{live_server.url}/console/products/{product.id}/")
    assert chart_last(page) == product_on_hand(product.id)


def product_on_hand(product_id: int) -> int:
    return sum(StockBalance.objects.filter(product_id=product_id).values_list("on_hand", flat=True))
