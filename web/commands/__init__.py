"""CLI command modules, imported lazily by web.cli."""
