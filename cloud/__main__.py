"""`shelfsync cloud` / `python -m cloud`: serve the ledger, or migrate / verify it."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
from pathlib import Path

from aiohttp import web

from cloud.dburl import DatabaseUrlError, check_db_url, probe
from cloud.settings import DEFAULT_DB, Settings, admin_token_from
from shared.logs import LogSetupError
from shared.logs import setup as setup_logging
from shared.mqtt import BrokerUrl

EPILOG = """examples:
  SHELFSYNC_ADMIN_TOKEN=s3cret shelfsync cloud --db sqlite:///ledger.db --mqtt mqtt://127.0.0.1:1883
  shelfsync cloud --db postgresql://shelfsync@db/shelfsync --mqtt mqtts://cloud:pw@broker:8885?ca=ca.pem
  shelfsync cloud migrate --db postgresql://shelfsync@db/shelfsync     (once per release)
  shelfsync cloud verify --db sqlite:///ledger.db      (rebuild from movements, compare with balances)
  shelfsync cloud token create --name staff-sh-0042 --role store --store sh-0042   (API tokens)
  SHELFSYNC_CHANNEL_TAOBAO_SECRET=… shelfsync cloud --db … --channels channels.toml   (platform sync)
  shelfsync cloud backup --db postgresql://… --file ledger-2026-11-28.jsonl.gz
  shelfsync cloud restore --db postgresql://…/new --file ledger-2026-11-28.jsonl.gz   (into an empty db)
  shelfsync cloud --check-config --channels channels.toml --alerts alerts.toml   (check; start nothing)
"""


def event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (the cloud part brings it, except on Windows), else asyncio's
    own loop. The event loop is the worker's largest cost per order after the database round
    trips (py-spy: 40 % of its samples in asyncio's loop and transports); on uvloop the worker
    spent 7 % less CPU per order and 10 % less on GET /readyz (bench orders, 300 orders/s)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - a platform without it
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def main(argv: list[str], prog: str = "shelfsync cloud") -> int:
    if argv and argv[0] == "token":
        from cloud.tokens_cli import main as token_main
        return token_main(argv[1:], f"{prog} token")
    action = "serve"
    if argv and argv[0] in ("serve", "migrate", "verify", "backup", "restore"):
        action, argv = argv[0], argv[1:]
    parser = argparse.ArgumentParser(
        prog=f"{prog} [serve|migrate|verify|backup|restore|token]", epilog=EPILOG,
        description="The cloud stock ledger: MQTT ingest and REST API. "
                    "The admin bearer token comes from SHELFSYNC_ADMIN_TOKEN.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    # Secrets in URLs come from the environment by default, so they stay out of /proc/*/cmdline.
    parser.add_argument("--db", default=os.environ.get("SHELFSYNC_DB"),
                        help="database URL: sqlite:///PATH or postgresql://… (default: $SHELFSYNC_DB; "
                             f"serve alone falls back to {DEFAULT_DB}, every other command needs one)")
    parser.add_argument("--mqtt", default=os.environ.get("SHELFSYNC_MQTT", "mqtt://127.0.0.1:1883"),
                        help="broker URL, or 'none' to serve the API without ingest "
                             "(default: $SHELFSYNC_MQTT or mqtt://127.0.0.1:1883)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--worker-id", default="", help="unique per worker (default: host name)")
    parser.add_argument("--reuse-port", action="store_true",
                        help="share --port with other workers on this host (SO_REUSEPORT): the kernel "
                             "spreads connections over them, one CPU each")
    parser.add_argument("--no-migrate", action="store_true", help="do not run migrations at start")
    parser.add_argument("--alerts", type=Path, default=os.environ.get("SHELFSYNC_ALERTS") or None,
                        help="chain alerts file (gateway offline, expiry; see cloud/alerts.py); "
                             "give it to one worker only (default: $SHELFSYNC_ALERTS)")
    parser.add_argument("--channels", type=Path, default=os.environ.get("SHELFSYNC_CHANNELS") or None,
                        help="platform credentials per channel (TOML, see cloud/channels/config.py): push "
                             "every channel's stock to its platform (default: $SHELFSYNC_CHANNELS)")
    parser.add_argument("--max-clock-ahead", type=_seconds, metavar="S",
                        default=os.environ.get("SHELFSYNC_MAX_CLOCK_AHEAD", "900"),
                        help="dead-letter a delta dated more than S seconds ahead of this clock "
                             "(default: $SHELFSYNC_MAX_CLOCK_AHEAD or 900)")
    parser.add_argument("--console-idle", type=_minutes, metavar="MIN",
                        default=os.environ.get("SHELFSYNC_CONSOLE_IDLE", "30"),
                        help="the console signs out after MIN minutes without a request "
                             "(default: $SHELFSYNC_CONSOLE_IDLE or 30)")
    parser.add_argument("--timezone", type=_timezone,
                        default=os.environ.get("SHELFSYNC_TIMEZONE", "Asia/Shanghai"),
                        help="the chain's time zone: the console's 'today' and the times it shows "
                             "(default: $SHELFSYNC_TIMEZONE or Asia/Shanghai)")
    parser.add_argument("--export-dir", type=Path, default=os.environ.get("SHELFSYNC_EXPORT_DIR") or None,
                        help="write each channel's scheduled spreadsheet (Setup › Channels) here as "
                             "CHANNEL.csv and CHANNEL.xlsx (default: $SHELFSYNC_EXPORT_DIR; none: no files)")
    parser.add_argument("--file", type=Path, help="backup / restore: the .jsonl.gz file")
    parser.add_argument("--check-config", action="store_true",
                        help="check --channels and --alerts (every section and key) and the --db and --mqtt "
                             "URLs, say what they describe, start nothing")
    parser.add_argument("--log-level", default="INFO", help="debug, info, warning, error or critical")
    parser.add_argument("--log-format", choices=["text", "json"], default="text")
    args = parser.parse_args(argv)
    try:
        setup_logging(args.log_level, args.log_format)
    except LogSetupError as e:
        print(f"{prog}: --log-level: {e}", file=sys.stderr)
        return 2
    if args.db is None and action != "serve":  # never a new empty ledger in the current directory
        print(f"{prog} {action}: --db is required (or set $SHELFSYNC_DB)", file=sys.stderr)
        return 2
    db = args.db or DEFAULT_DB
    try:
        check_db_url(db)
        if args.check_config:
            return _check_config(args, db)
        if action in ("backup", "restore") and args.file is None:
            parser.error(f"{action} needs --file")
        asyncio.run(probe(db))  # a database that cannot be reached is one line, not a traceback
    except DatabaseUrlError as e:
        print(f"{prog}: --db: {e}", file=sys.stderr)
        return 2
    except _ConfigFileError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2

    if action == "migrate":
        from cloud.db.migrate import upgrade
        upgrade(db)
        print(f"{prog}: schema is at head")
        return 0
    if action == "verify":
        return asyncio.run(_verify(db))
    if action in ("backup", "restore"):
        return asyncio.run(_backup_restore(action, db, args.file, prog))

    token = admin_token_from()
    if not token:
        print(f"{prog}: set SHELFSYNC_ADMIN_TOKEN to the admin bearer token", file=sys.stderr)
        return 2
    try:
        mqtt = None if args.mqtt == "none" else BrokerUrl.parse(args.mqtt)
    except ValueError as e:
        print(f"{prog}: --mqtt: {e}", file=sys.stderr)
        return 2
    if args.alerts is not None:
        from cloud.alerts import ChainAlertsError, load_chain_alerts
        try:
            load_chain_alerts(args.alerts)  # a bad file stops start-up with its reason
        except ChainAlertsError as e:
            print(f"{prog}: --alerts: {e}", file=sys.stderr)
            return 2
    if args.channels is not None:
        from cloud.channels.config import ConfigError, load
        try:
            load(args.channels)  # a bad file stops start-up with its reason
        except ConfigError as e:
            print(f"{prog}: --channels: {e}", file=sys.stderr)
            return 2
    from cloud.app import create_app

    settings = Settings(db_url=db, mqtt=mqtt, host=args.host, port=args.port, admin_token=token,
                        worker_id=args.worker_id, migrate=not args.no_migrate, alerts=args.alerts,
                        channels=args.channels, max_clock_ahead_s=args.max_clock_ahead,
                        console_idle_s=args.console_idle * 60, timezone=args.timezone,
                        export_dir=args.export_dir)
    # Everything imported so far lives as long as the process: keep it out of the collector's
    # scans, and collect the young generation less often (fewer pauses in the order path's tail).
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)
    web.run_app(create_app(settings), loop=event_loop(), host=args.host, port=args.port, access_log=None,
                reuse_port=args.reuse_port or None,
                print=lambda *_: print(f"cloud: serving on http://{args.host}:{args.port}", file=sys.stderr))
    return 0


def _seconds(text: str) -> float:
    """--max-clock-ahead: a number of seconds, 0 or more (argparse turns the error into one line)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text!r}")
    return value


def _minutes(text: str) -> float:
    """--console-idle: minutes, more than 0."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 10 * 365 * 24 * 60:
        raise argparse.ArgumentTypeError(f"must be a number of minutes > 0, got {text!r}")
    return value


def _timezone(text: str) -> str:
    """--timezone: an IANA time zone name (Asia/Shanghai, UTC)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise argparse.ArgumentTypeError(
            f"not a time zone name (like Asia/Shanghai or UTC): {text!r}") from None
    return text


class _ConfigFileError(ValueError):
    """--check-config: a file or URL is wrong; the message names the option and the key."""


def _check_config(args: argparse.Namespace, db: str) -> int:
    """`--check-config`: the URLs' forms and every file given, parsed as serving would; nothing is
    connected to or created. One line per part on stdout; _ConfigFileError for the first bad one."""
    from sqlalchemy.engine import make_url

    print(f"--db {make_url(db).render_as_string(hide_password=True)}: ok (not connected)")
    if args.mqtt != "none":
        try:
            print(f"--mqtt {BrokerUrl.parse(args.mqtt).redacted()}: ok (not connected)")
        except ValueError as e:
            raise _ConfigFileError(f"--mqtt: {e}") from None
    if args.channels is not None:
        from cloud.channels.config import ConfigError, load
        try:
            channels = load(args.channels)
        except ConfigError as e:
            raise _ConfigFileError(f"--channels: {e}") from None
        listed = ", ".join(f"{c.name} on {c.platform}" for c in channels.values())
        plural = "" if len(channels) == 1 else "s"
        print(f"{args.channels}: ok ({len(channels)} channel{plural}: {listed or 'none'})")
    if args.alerts is not None:
        from cloud.alerts import ChainAlertsError, load_chain_alerts
        try:
            alerts = load_chain_alerts(args.alerts)
        except ChainAlertsError as e:
            raise _ConfigFileError(f"--alerts: {e}") from None
        print(f"{args.alerts}: ok ({len(alerts.stores)} store routes: {', '.join(sorted(alerts.stores))}; "
              f"{len(alerts.products)} products named; alert books in {alerts.dir})")
    return 0


async def _backup_restore(action: str, db: str, file: Path, prog: str) -> int:
    from cloud.db import backup, engines, reads
    from cloud.db.migrate import upgrade

    if action == "restore":
        await asyncio.get_running_loop().run_in_executor(None, upgrade, db)
    engine = engines.make_engine(db)
    try:
        maker = engines.sessionmaker(engine)
        counts = await (backup.backup(maker, file) if action == "backup" else backup.restore(maker, file))
        if action == "restore" and await reads.rebuild_mismatches(maker):
            print(f"{prog}: restored, but the rebuild check failed", file=sys.stderr)
            return 1
    except backup.BackupError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
    print(json.dumps({action: str(file), **counts}))
    return 0


async def _verify(db: str) -> int:
    from cloud.db import engines, reads

    engine = engines.make_engine(db)
    try:
        mismatches = await reads.rebuild_mismatches(engines.sessionmaker(engine))
    finally:
        await engine.dispose()
    print(json.dumps({"mismatches": mismatches}, indent=2))
    return 1 if mismatches else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:], prog="python -m cloud"))
