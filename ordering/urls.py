from django.urls import path

from ordering.apis import OrderCancelApi, OrderDetailApi, order_list_view

urlpatterns = [
    path("orders/", order_list_view, name="order-list"),
    path("orders/<int:order_id>/", OrderDetailApi.as_view(), name="order-detail"),
    path("orders/<int:order_id>/cancel/", OrderCancelApi.as_view(), name="order-cancel"),
]
