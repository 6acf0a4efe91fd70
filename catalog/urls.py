from django.urls import path

from catalog.apis import ProductDetailApi, ProductListCreateApi

urlpatterns = [
    path("products/", ProductListCreateApi.as_view(), name="product-list"),
    path("products/<int:product_id>/", ProductDetailApi.as_view(), name="product-detail"),
]
