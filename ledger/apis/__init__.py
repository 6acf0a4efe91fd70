"""The ledger's HTTP API, one module per responsibility: stock writes, history
(movements and balances), the CSV export and the low-stock alerts."""
