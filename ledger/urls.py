from django.urls import path

from ledger.apis import (
    alerts,
    export,
    history,
    locations,
    receipts,
    reservations,
    stock_writes,
    stocktakes,
    transfers,
)

urlpatterns = [
    path("products/<int:product_id>/restocks/", stock_writes.restock_view, name="restock"),
    path(
        "products/<int:product_id>/adjustments/",
        stock_writes.AdjustmentApi.as_view(),
        name="adjustment",
    ),
    path(
        "products/<int:product_id>/stocktakes/",
        stock_writes.StocktakeApi.as_view(),
        name="stocktake",
    ),
    path("products/<int:product_id>/balance/", history.BalanceApi.as_view(), name="balance"),
    path("movements/", history.MovementListApi.as_view(), name="movement-list"),
    path("movements/export.csv", export.MovementExportApi.as_view(), name="movement-export"),
    path(
        "movements/<int:movement_id>/", history.MovementDetailApi.as_view(), name="movement-detail"
    ),
    path("locations/", locations.LocationListCreateApi.as_view(), name="location-list"),
    path(
        "locations/<str:location>/", locations.LocationDetailApi.as_view(), name="location-detail"
    ),
    path(
        "reservations/",
        reservations.ReservationListCreateApi.as_view(),
        name="reservation-list",
    ),
    path(
        "reservations/<int:reservation_id>/",
        reservations.ReservationDetailApi.as_view(),
        name="reservation-detail",
    ),
    path(
        "reservations/<int:reservation_id>/commit/",
        reservations.ReservationCommitApi.as_view(),
        name="reservation-commit",
    ),
    path(
        "reservations/<int:reservation_id>/release/",
        reservations.ReservationReleaseApi.as_view(),
        name="reservation-release",
    ),
    path("stock-alerts/", alerts.StockAlertListApi.as_view(), name="stock-alert-list"),
    path("transfers/", transfers.TransferListCreateApi.as_view(), name="transfer-list"),
    path(
        "transfers/<int:transfer_id>/",
        transfers.TransferDetailApi.as_view(),
        name="transfer-detail",
    ),
    path(
        "transfers/<int:transfer_id>/receive/",
        transfers.TransferReceiveApi.as_view(),
        name="transfer-receive",
    ),
    path(
        "transfers/<int:transfer_id>/cancel/",
        transfers.TransferCancelApi.as_view(),
        name="transfer-cancel",
    ),
    path("receipts/", receipts.receipt_view, name="receipt-list"),
    path("receipts/<int:receipt_id>/", receipts.ReceiptDetailApi.as_view(), name="receipt-detail"),
    path("stocktakes/", stocktakes.StocktakeCreateApi.as_view(), name="stocktake-list"),
]
