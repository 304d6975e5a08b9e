"""Engine, schema and sessions for SQLite (embedded default) and PostgreSQL (production).

The schema is created with ``metadata.create_all`` plus the dialect's full-text index; the
store records its schema version in a one-row table and refuses to run against another
version rather than guess (see README, "Database").
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from bot.store.models import Base

SCHEMA_VERSION = 1

# Everything, and (small) the title and authors alone: the first two ranking tiers read the
# small table instead of filtering the summary-sized doclists of the big one by column.
_SQLITE_FTS = [
    """CREATE VIRTUAL TABLE IF NOT EXISTS paper_fts USING fts5(
        title, authors, summary, tokenize = 'unicode61 remove_diacritics 0', columnsize = 0
    )""",
    """CREATE VIRTUAL TABLE IF NOT EXISTS paper_fts_head USING fts5(
        title, authors, tokenize = 'unicode61 remove_diacritics 0', columnsize = 0
    )""",
]
# One tsvector per ranking tier (title; title and authors; everything): GIN keeps neither
# weights nor positions, so a tier as a weight filter would recheck every candidate row.
_POSTGRES_FTS = [
    """CREATE TABLE IF NOT EXISTS paper_fts (
        search_key BIGINT PRIMARY KEY,
        title TSVECTOR NOT NULL,
        head TSVECTOR NOT NULL,
        doc TSVECTOR NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS ix_paper_fts_title ON paper_fts USING GIN (title)",
    "CREATE INDEX IF NOT EXISTS ix_paper_fts_head ON paper_fts USING GIN (head)",
    "CREATE INDEX IF NOT EXISTS ix_paper_fts_doc ON paper_fts USING GIN (doc)",
]


class SchemaError(RuntimeError):
    """The database holds a schema this version of the bot does not know."""


_JSON = json.JSONEncoder(ensure_ascii=False)


def json_text(value: object) -> str:
    """JSON columns keep Korean as it is (escaped, it takes twice the bytes)."""
    return _JSON.encode(value)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; an embedded SQLite file gets its folder and sane pragmas."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            json_serializer=json_text,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    # The bot's handlers run a few short queries at a time through worker threads.
    return create_engine(
        url,
        pool_size=5,
        max_overflow=10,
        pool_pre_ping=True,
        pool_recycle=1800,
        json_serializer=json_text,
    )


def is_postgres(engine_or_session: Engine | Session) -> bool:
    bind = (
        engine_or_session.get_bind()
        if isinstance(engine_or_session, Session)
        else engine_or_session
    )
    return bind.dialect.name == "postgresql"


def init_schema(engine: Engine) -> None:
    """Create missing tables and the search index; check the recorded schema version."""
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"))
        found = conn.execute(text("SELECT version FROM schema_version")).scalar()
        if found is not None and found != SCHEMA_VERSION:
            raise SchemaError(
                f"database schema is version {found}; this bot expects {SCHEMA_VERSION}"
            )
        Base.metadata.create_all(conn)
        if engine.dialect.name == "postgresql":
            for statement in _POSTGRES_FTS:
                conn.execute(text(statement))
        else:
            for statement in _SQLITE_FTS:
                conn.execute(text(statement))
        if found is None:
            conn.execute(text("INSERT INTO schema_version VALUES (:v)"), {"v": SCHEMA_VERSION})


def drop_schema(engine: Engine) -> None:
    """Remove everything the bot created (tests and benchmarks start from nothing)."""
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS paper_fts"))
        conn.execute(text("DROP TABLE IF EXISTS paper_fts_head"))
        conn.execute(text("DROP TABLE IF EXISTS schema_version"))
        Base.metadata.drop_all(conn)


def begin_writing(session: Session) -> None:
    """Open the session's transaction now, as a writer. Python's sqlite3 opens one only
    before the first data change, so a savepoint taken earlier would be a transaction of
    its own, committed when released; ``BEGIN IMMEDIATE`` also takes the write lock up
    front (a busy database is waited for here, not half-way through)."""
    if session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql("BEGIN IMMEDIATE")


def run_many(session: Session, statement: str, rows: Sequence[Sequence[object]]) -> None:
    """``executemany`` straight on the driver, in the session's transaction, for the bulk
    rows of loading: values are already what the column stores (JSON as text, dates from
    :func:`date_value`), and ``?`` marks a parameter."""
    if not rows:
        return
    if session.get_bind().dialect.paramstyle != "qmark":
        statement = statement.replace("?", "%s")
    dbapi = session.get_bind().dialect.loaded_dbapi
    cursor = session.connection().connection.cursor()
    try:
        cursor.executemany(statement, rows)
    except dbapi.Error as exc:  # raised as SQLAlchemy would, for the caller to handle
        raise DBAPIError.instance(statement, None, exc, dbapi.Error, ismulti=True) from exc
    finally:
        cursor.close()


def insert_rows(
    session: Session, table: str, columns: Sequence[str], rows: Sequence[Sequence[object]]
) -> None:
    marks = ", ".join("?" * len(columns))
    run_many(session, f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


def date_value(session: Session, day: date) -> date | str:
    """A date as the driver takes it for a ``Date`` column (SQLite keeps ISO text)."""
    return day.isoformat() if session.get_bind().dialect.name == "sqlite" else day


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def open_store(url: str) -> Iterator[sessionmaker[Session]]:
    """Engine, schema and session factory for the duration of a command; then closed."""
    engine = make_engine(url)
    try:
        init_schema(engine)
        yield session_factory(engine)
    finally:
        engine.dispose()
