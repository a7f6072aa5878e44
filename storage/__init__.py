"""SQLAlchemy 2 (async) implementation of the ports `voting` declares. Never commits on its own."""
