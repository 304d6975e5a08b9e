"""Schema migrations: a database made by the first version of the bot (``schema_version``
1, before Alembic) is upgraded in place with nothing lost, and the migrations build the
same schema as the models do."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from bot.codec import CallbackKind
from bot.store import ingest, queries
from bot.store import subscriptions as subs
from bot.store.db import (
    HEAD,
    MIGRATIONS,
    init_schema,
    make_engine,
    schema_revision,
    session_factory,
)
from bot.store.models import (
    Base,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Every,
    StopReason,
    Subscription,
)
from tests.helpers.digests import SEEDS, latest, load_paths
from tests.helpers.processes import run_command


def _first_version_database(url: str) -> None:
    """The schema and data as the first version left them: no Alembic table."""
    engine = make_engine(url)
    init_schema(engine, "0001")
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
    engine.dispose()


def test_a_first_version_database_is_upgraded_with_nothing_lost(db_url: str, monkeypatch) -> None:
    _first_version_database(db_url)
    engine = make_engine(db_url)
    Store = session_factory(engine)
    # The loader writes no new column; only its alert queue and the search vocabulary are
    # new (nobody follows anything; the upgrade builds the vocabulary from the papers).
    monkeypatch.setattr(ingest, "queue_added", lambda conn, entries: None)
    monkeypatch.setattr(ingest, "record_words", lambda session, words: None)
    load_paths(Store, *sorted(SEEDS.glob("*.md")))
    monkeypatch.undo()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO subscription (chat_id, chat_type, title, active, send_time, timezone,"
                " top_n, min_votes, keywords, created_at, last_slot_at) VALUES"
                " (42, 'PRIVATE', 'a', true, '08:00', 'Asia/Seoul', 5, 0, '[]', :t, :t),"
                " (43, 'PRIVATE', 'b', false, '09:00', 'Asia/Seoul', 10, 0, '[]', :t, :t)"
            ),
            {"t": "2024-04-25 00:00:00+00:00"},
        )
        conn.execute(
            text(
                "INSERT INTO delivery (chat_id, day, status, parts_total, parts_sent, updated_at)"
                " VALUES (42, '2024-04-25', 'SENT', 1, 1, :t)"
            ),
            {"t": "2024-04-25 00:00:00+00:00"},
        )
        conn.execute(text("INSERT INTO saved_query VALUES ('abc', 's', '확산')"))
    with Store() as session:
        before = list(queries.export_rows(session))
    assert len(before) == 67

    init_schema(engine)

    with engine.connect() as conn:
        assert schema_revision(conn) == HEAD
    with Store() as session:
        assert list(queries.export_rows(session)) == before
        active = subs.get_subscription(session, 42)
        assert active and active.active and active.send_time == "08:00" and active.top_n == 5
        stopped = session.get(Subscription, 43)
        assert stopped and stopped.stopped_reason is StopReason.UNSUBSCRIBED
        delivery = session.get(Delivery, (42, latest(session), DeliveryKind.DAILY))
        assert delivery and delivery.status is DeliveryStatus.SENT and delivery.attempts == 0
        assert active.every is Every.DAILY  # a weekly digest is a choice made later
        assert queries.saved_query(session, CallbackKind.SEARCH, "abc") == "확산"
        assert queries.stats(session).subscribed_chats == 1
    init_schema(engine)  # a second start changes nothing
    engine.dispose()


def test_the_head_the_store_knows_is_the_newest_migration() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == HEAD


@pytest.mark.parametrize("start", ["nothing", "0001"])
def test_a_new_database_and_an_upgraded_one_are_the_same(db_url: str, start: str) -> None:
    engine = make_engine(db_url)
    if start != "nothing":
        init_schema(engine, start)
    init_schema(engine)
    with engine.connect() as conn:
        assert schema_revision(conn) == HEAD
        tables = set(inspect(conn).get_table_names())
    engine.dispose()
    assert "schema_version" not in tables and {"paper", "delivery", "alembic_version"} <= tables


def test_migrations_build_the_schema_the_models_describe(db_url: str) -> None:
    engine = make_engine(db_url)
    init_schema(engine, "0001")
    init_schema(engine)
    sqlite = engine.dialect.name == "sqlite"

    def ours(obj, name, type_, reflected, compare_to) -> bool:
        return not (type_ == "table" and name and name.startswith("paper_fts"))

    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={"include_object": ours, "compare_type": not sqlite, "target_metadata": None},
        )
        differences = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert differences == []


def test_a_database_newer_than_the_bot_is_refused_in_one_line(db_url: str) -> None:
    engine = make_engine(db_url)
    init_schema(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    result = run_command("stats", DATABASE_URL=db_url)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "revision 0099, newer than this bot: upgrade the bot" in lines[0]
