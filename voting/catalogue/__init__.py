"""The catalogues that ship with renovote (package data: default.toml)."""
