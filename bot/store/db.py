"""Engine, schema and sessions for SQLite (embedded default) and PostgreSQL (production).

The schema is Alembic's (``bot/store/migrations``): a new database is created whole from the
models (plus the dialect's full-text index) and stamped with the newest revision; an older
one is upgraded in place when the bot opens it; a newer one is refused (docs/architecture.md,
"The store").
"""

from __future__ import annotations

import json
import os
import socket
import uuid
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    Connection,
    CursorResult,
    Engine,
    Result,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from bot.config import sqlite_file
from bot.store.models import Base

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_MIGRATION_LOCK = 0x44505342  # PostgreSQL advisory lock: one instance migrates at a time

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


def changed_rows(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE changed (``Session.execute`` types its result as a
    plain ``Result``; for those statements it is a ``CursorResult``)."""
    return cast("CursorResult[Any]", result).rowcount


def json_text(value: object) -> str:
    """JSON columns keep Korean as it is (escaped, it takes twice the bytes)."""
    return _JSON.encode(value)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; an embedded SQLite file gets its folder and sane pragmas."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        sqlite_file(url)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            json_serializer=json_text,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    # The bot's handlers run a few short queries at a time through worker threads. No
    # server-side prepared statements: through a transaction pooler (PgBouncer) the next
    # transaction may run on a server connection that never saw them.
    prepared = {"prepare_threshold": None} if parsed.get_driver_name() == "psycopg" else {}
    return create_engine(
        url,
        connect_args=prepared,
        pool_size=5,
        max_overflow=10,
        pool_pre_ping=True,
        pool_recycle=1800,
        json_serializer=json_text,
    )


def describe_database(database_url: str) -> str:
    """Which database a URL names, as an operator would say it, never with its password:
    ``SQLite /abs/path/bot.sqlite3``, ``PostgreSQL papers on db.example:5432``."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        where = url.database or ":memory:"
        return f"SQLite {Path(where).absolute() if where != ':memory:' else where}"
    host = url.host or "localhost"
    return f"PostgreSQL {url.database} on {host}{f':{url.port}' if url.port else ''}"


def now_utc() -> datetime:
    """Now, in UTC (what every timestamp the store writes is)."""
    return datetime.now(UTC)


def holder_name() -> str:
    """A name for a holder of claims, leases or slots (a delivery pass, an instance),
    unique across processes and hosts, and short enough for every holder column."""
    return f"{socket.gethostname()[:16]}:{os.getpid()}:{uuid.uuid4().hex[:10]}"


def as_utc(moment: datetime) -> datetime:
    """A timestamp the store gave back, zoned: SQLite keeps none, and the store writes UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def is_postgres(engine_or_session: Engine | Session) -> bool:
    bind = (
        engine_or_session.get_bind()
        if isinstance(engine_or_session, Session)
        else engine_or_session
    )
    return bind.dialect.name == "postgresql"


def one_writer_per(session: Session, space: int, key: int) -> None:
    """Until this transaction ends, no other transaction passes this call with the same
    (``space``, ``key``): a count and the insert it allows are then one step. On PostgreSQL
    a transaction advisory lock (keys hashed to 32 bits: a collision only serializes two
    users); SQLite takes its one write lock here (a read would see a stale count)."""
    if is_postgres(session):
        folded = zlib.crc32(str(key).encode()) - 2**31
        session.execute(select(func.pg_advisory_xact_lock(space, folded)))
    else:
        begin_writing(session)


class Serial:
    """The spaces of :func:`one_writer_per`'s locks."""

    BOOKMARKS = 1
    RULES = 2


def fts_statements(dialect: str) -> list[str]:
    """The statements that create the full-text index on ``dialect``."""
    return _POSTGRES_FTS if dialect == "postgresql" else _SQLITE_FTS


HEAD = "0011"  # the newest revision in migrations/versions (a test holds them together)
_VERSION_TABLE = (
    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL,"
    " CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
)


def schema_revision(conn: Connection) -> str | None:
    """The Alembic revision the database is at (``None``: not under Alembic)."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def init_schema(engine: Engine, revision: str = "head") -> None:
    """Bring the database to ``revision``: create a new one whole, upgrade an older one
    (the first schema, from before migrations, included), refuse a newer one. A database
    that is new or up to date needs no migration machinery (Alembic loads only to migrate:
    every command opens the store, and most start in a hurry)."""
    target = HEAD if revision == "head" else revision
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
        current = schema_revision(conn)
        if current == target:
            return
        tables = set(inspect(conn).get_table_names())
        if (
            current is None
            and target == HEAD
            and not tables & {*Base.metadata.tables, "schema_version"}
        ):
            Base.metadata.create_all(conn)  # the newest schema at once
            for statement in fts_statements(conn.dialect.name):
                conn.execute(text(statement))
            conn.execute(text(_VERSION_TABLE))
            conn.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": HEAD})
            return
        _migrate(conn, current, target, tables)


def _migrate(conn: Connection, current: str | None, target: str, tables: set[str]) -> None:
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    scripts = ScriptDirectory.from_config(config)
    if current is None and "schema_version" in tables:
        version = conn.execute(text("SELECT version FROM schema_version")).scalar()
        if version != 1:
            raise SchemaError(f"database schema is version {version}; this bot knows 1")
        command.stamp(config, "0001")  # the schema before migrations
    elif current is None and tables & set(Base.metadata.tables):
        raise SchemaError("database holds tables of an unknown schema")
    elif current is not None and current not in {s.revision for s in scripts.walk_revisions()}:
        raise SchemaError(
            f"database schema is at revision {current}, newer than this bot: upgrade the bot"
        )
    command.upgrade(config, target)


def drop_schema(engine: Engine) -> None:
    """Remove everything the bot created (tests and benchmarks start from nothing)."""
    with engine.begin() as conn:
        for table in ("paper_fts", "paper_fts_head", "schema_version", "alembic_version"):
            conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
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
