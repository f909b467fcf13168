"""`shelfsync cloud token create|list|revoke`: API tokens with roles, straight in the database.

The token is printed once; only its SHA-256 is stored. Over HTTP the same is POST/GET/DELETE
/v1/tokens with an hq token.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

from sqlalchemy.exc import IntegrityError

from cloud.auth import Role, check_token_fields, create_token, list_tokens, revoke_token
from cloud.dburl import DatabaseUrlError, check_db_url, probe

EPILOG = """examples:
  shelfsync cloud token create --name staff-sh-0042 --role store --store sh-0042
  shelfsync cloud token create --name finance --role finance
  shelfsync cloud token list --db postgresql://shelfsync@db/shelfsync
  shelfsync cloud token revoke staff-sh-0042
every command needs the ledger: --db URL or $SHELFSYNC_DB
roles: hq (everything), store (its own store only), finance (reads everything with cost, writes nothing)
"""


def main(argv: list[str], prog: str = "shelfsync cloud token") -> int:
    parser = argparse.ArgumentParser(prog=prog, epilog=EPILOG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["create", "list", "revoke"])
    parser.add_argument("name", nargs="?", help="revoke: the token's name")
    parser.add_argument("--name", dest="new_name", help="create: a name to know the token by")
    parser.add_argument("--role", choices=[r.value for r in Role], help="create: the token's role")
    parser.add_argument("--store", help="create: the store a store token belongs to")
    parser.add_argument("--db", default=os.environ.get("SHELFSYNC_DB"),
                        help="the ledger's database URL (required, or $SHELFSYNC_DB)")
    args = parser.parse_args(argv)
    if args.action == "create" and (not args.new_name or not args.role):
        parser.error("create needs --name and --role")
    if args.action == "revoke" and not args.name:
        parser.error("revoke needs the token's name")
    if args.db is None:  # never a new empty ledger in the current directory
        print(f"{prog}: --db is required (or set $SHELFSYNC_DB)", file=sys.stderr)
        return 2
    try:
        if args.action == "create":  # the ids the API takes, refused before the database is touched
            check_token_fields(args.new_name, Role(args.role), args.store)
    except ValueError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    try:
        check_db_url(args.db)
        asyncio.run(probe(args.db))
    except DatabaseUrlError as e:
        print(f"{prog}: --db: {e}", file=sys.stderr)
        return 2
    return asyncio.run(_run(args, prog))


async def _run(args: argparse.Namespace, prog: str) -> int:
    from cloud.db import engines
    from cloud.db.migrate import upgrade

    await asyncio.get_running_loop().run_in_executor(None, upgrade, args.db)
    engine = engines.make_engine(args.db)
    maker = engines.sessionmaker(engine)
    try:
        if args.action == "create":
            try:
                token = await create_token(maker, args.new_name, Role(args.role), args.store)
            except ValueError as e:
                print(f"{prog}: {e}", file=sys.stderr)
                return 2
            except IntegrityError:
                print(f"{prog}: a token named {args.new_name!r} exists; revoke it first", file=sys.stderr)
                return 1
            print(json.dumps({"name": args.new_name, "role": args.role, "store": args.store, "token": token}))
        elif args.action == "list":
            print(json.dumps({"tokens": await list_tokens(maker)}, indent=2))
        elif not await revoke_token(maker, args.name):
            print(f"{prog}: no token named {args.name!r}", file=sys.stderr)
            return 1
        else:
            print(json.dumps({"revoked": args.name}))
    finally:
        await engine.dispose()
    return 0
