"""`shelfsync cloud token`: a token made on the command line opens its store's data and no other."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.orders.chain import serve


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "shelfsync.cli", "cloud", "token", *args],
                          capture_output=True, text=True, timeout=60)


async def test_a_cli_token_works_over_http_until_revoked(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'ledger.db'}"
    made = _cli("create", "--name", "staff-1", "--role", "store", "--store", "sh-1", "--db", db)
    assert made.returncode == 0, made.stderr
    token = json.loads(made.stdout)["token"]
    bad = _cli("create", "--name", "nobody", "--role", "store", "--db", db)
    assert bad.returncode == 2 and "--store" in bad.stderr
    dup = _cli("create", "--name", "staff-1", "--role", "hq", "--db", db)
    assert dup.returncode == 1 and "exists" in dup.stderr
    listed = json.loads(_cli("list", "--db", db).stdout)["tokens"]
    assert [(t["name"], t["role"], t["store"]) for t in listed] == [("staff-1", "store", "sh-1")]
    async with serve(db) as api:
        assert (await api.get("/v1/stores/sh-1/stock", token))[0] == 200
        assert (await api.get("/v1/stores/sh-2/stock", token))[0] == 403
    assert _cli("revoke", "staff-1", "--db", db).returncode == 0
    async with serve(db) as api:
        assert (await api.get("/v1/stores/sh-1/stock", token))[0] == 401
    assert _cli("revoke", "staff-1", "--db", db).returncode == 1
