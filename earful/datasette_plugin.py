"""Datasette plugin shipped with earful (registered in pyproject.toml's datasette entry point)."""
