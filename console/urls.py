from django.urls import path

from console.views import audit, auth, pages, writes

app_name = "console"

urlpatterns = [
    path("", pages.dashboard, name="dashboard"),
    path("sign-in/", auth.sign_in, name="login"),
    path("sign-out/", auth.sign_out, name="logout"),
    path("products/", pages.products, name="products"),
    path("products/<int:product_id>/", pages.product, name="product"),
    path("products/<int:product_id>/adjust/", writes.adjust, name="adjust"),
    path("products/<int:product_id>/count/", writes.count, name="count"),
    path("deliveries/new/", writes.delivery, name="delivery"),
    path("transfers/", writes.transfers, name="transfers"),
    path(
        "transfers/<int:transfer_id>/receive/",
        writes.transfer_receive_all,
        name="transfer-receive",
    ),
    path("reservations/", writes.reservations, name="reservations"),
    path(
        "reservations/<int:reservation_id>/release/",
        writes.reservation_release_view,
        name="reservation-release",
    ),
    path("movements/", audit.movements, name="movements"),
    path("movements.csv", audit.movements_csv, name="movements-csv"),
    path("verify/", audit.verify, name="verify"),
    path("orders/", audit.orders, name="orders"),
    path("orders/<int:order_id>/", audit.order, name="order"),
]
