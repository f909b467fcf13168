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

from cloud.settings import Settings, admin_token_from
from edge.logs import setup as setup_logging
from edge.mqtt import BrokerUrl

EPILOG = """examples:
  SHELFSYNC_ADMIN_TOKEN=s3cret shelfsync cloud --db sqlite:///ledger.db --mqtt mqtt://127.0.0.1:1883
  shelfsync cloud --db postgresql://shelfsync@db/shelfsync --mqtt mqtts://cloud:pw@broker:8885?ca=ca.pem
  shelfsync cloud migrate --db postgresql://shelfsync@db/shelfsync     (once per release)
  shelfsync cloud verify --db sqlite:///ledger.db      (rebuild from movements, compare with balances)
  shelfsync cloud token create --name staff-sh-0042 --role store --store sh-0042   (API tokens)
  SHELFSYNC_CHANNEL_TAOBAO_SECRET=… shelfsync cloud --db … --channels channels.toml   (platform sync)
  shelfsync cloud backup --db postgresql://… --file ledger-2026-11-28.jsonl.gz
  shelfsync cloud restore --db postgresql://…/new --file ledger-2026-11-28.jsonl.gz   (into an empty db)
"""


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
    parser.add_argument("--db", default=os.environ.get("SHELFSYNC_DB", "sqlite:///shelfsync-ledger.db"),
                        help="database URL (default: $SHELFSYNC_DB or sqlite:///shelfsync-ledger.db)")
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
    parser.add_argument("--file", type=Path, help="backup / restore: the .jsonl.gz file")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--log-format", choices=["text", "json"], default="text")
    args = parser.parse_args(argv)
    setup_logging(args.log_level, args.log_format)

    if action == "migrate":
        from cloud.db.migrate import upgrade
        upgrade(args.db)
        print(f"{prog}: schema is at head")
        return 0
    if action == "verify":
        return asyncio.run(_verify(args.db))
    if action in ("backup", "restore"):
        if args.file is None:
            parser.error(f"{action} needs --file")
        return asyncio.run(_backup_restore(action, args.db, args.file, prog))

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

    settings = Settings(db_url=args.db, mqtt=mqtt, host=args.host, port=args.port, admin_token=token,
                        worker_id=args.worker_id, migrate=not args.no_migrate, alerts=args.alerts,
                        channels=args.channels, max_clock_ahead_s=args.max_clock_ahead)
    # Everything imported so far lives as long as the process: keep it out of the collector's
    # scans, and collect the young generation less often (fewer pauses in the order path's tail).
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)
    web.run_app(create_app(settings), host=args.host, port=args.port, access_log=None,
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


async def _backup_restore(action: str, db: str, file: Path, prog: str) -> int:
    from cloud.db import backup, repo
    from cloud.db.migrate import upgrade

    if action == "restore":
        await asyncio.get_running_loop().run_in_executor(None, upgrade, db)
    engine = repo.make_engine(db)
    try:
        maker = repo.sessionmaker(engine)
        counts = await (backup.backup(maker, file) if action == "backup" else backup.restore(maker, file))
        if action == "restore" and await repo.rebuild_mismatches(maker):
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
    from cloud.db import repo

    engine = repo.make_engine(db)
    try:
        mismatches = await repo.rebuild_mismatches(repo.sessionmaker(engine))
    finally:
        await engine.dispose()
    print(json.dumps({"mismatches": mismatches}, indent=2))
    return 1 if mismatches else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:], prog="python -m cloud"))
