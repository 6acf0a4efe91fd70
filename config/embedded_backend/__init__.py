"""Django's PostgreSQL backend on the private development server (config/embedded_db.py),
which it starts on the first connection instead of when the settings are imported."""
