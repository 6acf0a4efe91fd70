from django.urls import path

from ledger import apis

urlpatterns = [
    path("products/<int:product_id>/restocks/", apis.RestockApi.as_view(), name="restock"),
    path("products/<int:product_id>/adjustments/", apis.AdjustmentApi.as_view(), name="adjustment"),
    path("products/<int:product_id>/stocktakes/", apis.StocktakeApi.as_view(), name="stocktake"),
    path("products/<int:product_id>/balance/", apis.BalanceApi.as_view(), name="balance"),
    path("movements/", apis.MovementListApi.as_view(), name="movement-list"),
    path("movements/export.csv", apis.MovementExportApi.as_view(), name="movement-export"),
    path("movements/<int:movement_id>/", apis.MovementDetailApi.as_view(), name="movement-detail"),
    path("stock-alerts/", apis.StockAlertListApi.as_view(), name="stock-alert-list"),
]
