"""Fuzzing the API against its OpenAPI schema: `make fuzz` runs fuzz/run.py."""
