"""Embedded defaults, importable without loading the database driver."""

DEFAULT_URL = "sqlite+aiosqlite:///var/renovote.sqlite3"
