"""Shared fixtures: a fresh database per test (SQLite file, or PostgreSQL when
``TEST_DATABASE_URL`` names one), and databases holding real digests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.store.db import drop_schema, init_schema, make_engine, session_factory
from tests.helpers.digests import archive_files, corpus_files, load_paths, seed_files


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        yield f"sqlite:///{tmp_path}/bot.sqlite3"
        return
    engine = make_engine(url)
    drop_schema(engine)
    engine.dispose()
    yield url


@pytest.fixture
def Store(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url)
    init_schema(engine)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, admin_ids=frozenset({1000}))


@pytest.fixture
def seeded(Store: sessionmaker[Session]) -> sessionmaker[Session]:
    load_paths(Store, *seed_files())
    return Store


def _shared_database(tmp_path_factory: pytest.TempPathFactory, name: str, files: list[Path]) -> str:
    """A database holding ``files``, made once per test run and shared read-only (on
    PostgreSQL, in a schema of its own)."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        from sqlalchemy import text

        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {name}"))
        engine.dispose()
        sep = "&" if "?" in url else "?"
        url = f"{url}{sep}options=-csearch_path%3D{name}"
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp(name)}/{name}.sqlite3"
    engine = make_engine(url)
    init_schema(engine)
    load_paths(session_factory(engine), *files)
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def archive_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The whole real archive where it exists, else the shipped slice and the seeds."""
    return _shared_database(tmp_path_factory, "archive_fixture", archive_files())


@pytest.fixture(scope="session")
def ArchiveStore(archive_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(archive_url)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def CorpusStore(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    """The whole real archive (the test is skipped without it)."""
    engine = make_engine(_shared_database(tmp_path_factory, "corpus_fixture", corpus_files()))
    yield session_factory(engine)
    engine.dispose()
