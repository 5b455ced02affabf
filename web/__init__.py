"""The Flask app, the CLI and the composition root that wires adapters from config."""
