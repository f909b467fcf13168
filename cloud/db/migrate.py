"""Schema migrations (Alembic), run by `shelfsync cloud migrate` or at service start."""

from __future__ import annotations

import threading
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision`. Safe to call from inside a running event loop:
    Alembic's env runs its own loop, so it runs on a thread of its own."""
    error: list[BaseException] = []

    def run() -> None:
        try:
            command.upgrade(alembic_config(url), revision)
        except BaseException as e:
            error.append(e)

    worker = threading.Thread(target=run, name="alembic")
    worker.start()
    worker.join()
    if error:
        raise error[0]
