from urllib.parse import quote, urlencode


def database_url(settings_dict: dict) -> str:
    """A DATABASE_URL for a Django DATABASES entry (a unix-socket directory or TCP), to
    hand the same database to another process. An entry for the private development
    server gets the server's address first (which starts the server if needed)."""
    from config.embedded_db import resolve

    settings_dict = resolve(settings_dict)
    options = settings_dict.get("OPTIONS") or {}
    host = str(settings_dict.get("HOST") or options.get("host") or "")
    port = str(settings_dict.get("PORT") or options.get("port") or "5432")
    credentials = quote(settings_dict.get("USER") or "", safe="")
    if settings_dict.get("PASSWORD"):
        credentials += ":" + quote(settings_dict["PASSWORD"], safe="")
    name = quote(settings_dict["NAME"], safe="")
    if not host or host.startswith("/"):
        query = urlencode({"host": host, "port": port}) if host else ""
        return f"postgres://{credentials}@/{name}" + (f"?{query}" if query else "")
    return f"postgres://{credentials}@{host}:{port}/{name}"
