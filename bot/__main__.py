"""Command line: ``python -m bot COMMAND`` (run, load, sync, write, deliver, web, export,
demo, stats)."""

from __future__ import annotations

import argparse
import logging
import sys

from sqlalchemy.exc import InterfaceError, OperationalError

from bot import cli
from bot.config import ConfigError, load_settings
from bot.store.db import SchemaError, describe_database


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Daily Papers bot")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "run", help="run the bot (long polling, or webhooks; needs BOT_TOKEN)"
    )
    run.add_argument(
        "--webhook", action="store_true", help="serve Telegram's webhook (needs WEBHOOK_URL)"
    )
    load = commands.add_parser("load", help="load digest files or folders")
    load.add_argument("paths", nargs="+", metavar="PATH")
    deliver = commands.add_parser("deliver", help="one delivery pass now, then exit")
    deliver.add_argument("--date", metavar="D", help="YYYY-MM-DD, today, yesterday or latest")
    commands.add_parser("export", help="every stored day entry as JSON lines")
    commands.add_parser("demo", help="offline demo against a local Bot API emulator")
    commands.add_parser("stats", help="counts")
    sync = commands.add_parser("sync", help="load new or changed days from DIGEST_SOURCE now")
    sync.add_argument("source", nargs="?", metavar="SOURCE", help="a git repository or a folder")
    write = commands.add_parser(
        "write", help="write a day's digest now from Hugging Face's daily papers"
    )
    write.add_argument("--date", metavar="D", help="YYYY-MM-DD (default: the newest closed day)")
    commands.add_parser("web", help="the web archive alone (pages, API, feeds), no Telegram needed")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)  # says what it runs, each start
    # APScheduler says "Running job …" and "… executed successfully" for every job, every
    # time (twice a minute); the jobs log what they do themselves.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    settings = None
    try:
        settings = load_settings()
        match args.command:
            case "load":
                return cli.load(settings, args.paths)
            case "export":
                return cli.export(settings)
            case "stats":
                return cli.stats(settings)
            case "deliver":
                return cli.deliver(settings, args.date)
            case "run":
                if args.webhook and not settings.webhook_url:
                    print(
                        "--webhook needs WEBHOOK_URL: the https address Telegram is to call",
                        file=sys.stderr,
                    )
                    return 2
                return cli.run(settings)
            case "demo":
                from bot.demo import demo  # the emulator loads only for the demo

                return demo(settings)
            case "sync":
                return cli.sync(settings, args.source)
            case "web":
                return cli.web(settings)
            case "write":
                return cli.write(settings, args.date)
    except (OperationalError, InterfaceError) as exc:  # the database is not there
        reason = str(exc.orig or exc).strip().splitlines()[0]
        where = f"{describe_database(settings.database_url)}: " if settings else ""
        print(f"database unavailable ({where}{reason}): check DATABASE_URL", file=sys.stderr)
        return 2
    except SchemaError as exc:
        print(f"database schema: {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
