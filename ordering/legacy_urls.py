"""The original version's paths, with or without a trailing slash."""

from django.urls import re_path

from ordering import legacy_apis

urlpatterns = [
    re_path(r"^products/?$", legacy_apis.StoreProductListApi.as_view(), name="store-products"),
    re_path(
        r"^products/(?P<product_id>[0-9]+)/?$",
        legacy_apis.StoreProductDetailApi.as_view(),
        name="store-product",
    ),
    re_path(r"^orders/?$", legacy_apis.StoreOrderListCreateApi.as_view(), name="store-orders"),
    re_path(
        r"^orders/(?P<order_id>[0-9]+)/?$",
        legacy_apis.StoreOrderDetailApi.as_view(),
        name="store-order",
    ),
]
