"""The web app: the Flask factory, its blueprints, templates and static files, and HTTP glue."""
