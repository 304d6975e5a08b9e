"""Alembic migrations of the bot's schema (``env.py`` and ``versions/``)."""
