"""Application services: use cases the web app and the CLI share; no Flask here."""
