"""Shared fixtures: a fresh database per test (SQLite file, or PostgreSQL when
``TEST_DATABASE_URL`` names one), and paths to the seeds and the real corpus."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.config import Settings
from bot.digest import read_digest
from bot.store.db import drop_schema, init_schema, make_engine, session_factory
from bot.store.ingest import store_digest

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
CORPUS = ROOT.parent / "shared" / "corpus" / "hf-daily-ko"


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


def load_paths(Store: sessionmaker[Session], *paths: Path) -> None:
    for path in paths:
        with Store.begin() as session:
            store_digest(session, read_digest(path))


@pytest.fixture
def seeded(Store: sessionmaker[Session]) -> sessionmaker[Session]:
    load_paths(Store, *sorted(SEEDS.glob("*.md")))
    return Store


def corpus_files() -> list[Path]:
    files = sorted(CORPUS.rglob("*.md"))
    if not files:
        pytest.fail(f"the corpus is missing at {CORPUS}")
    return files


@pytest.fixture(scope="session")
def corpus_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database holding the whole real corpus, shared read-only by the tests that ask."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        from sqlalchemy import text

        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS corpus_fixture CASCADE"))
            conn.execute(text("CREATE SCHEMA corpus_fixture"))
        engine.dispose()
        sep = "&" if "?" in url else "?"
        url = f"{url}{sep}options=-csearch_path%3Dcorpus_fixture"
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('corpus')}/corpus.sqlite3"
    engine = make_engine(url)
    init_schema(engine)
    Store = session_factory(engine)
    load_paths(Store, *corpus_files())
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def CorpusStore(corpus_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(corpus_url)
    yield session_factory(engine)
    engine.dispose()
