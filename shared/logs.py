"""Logging for every shelfsync process: text for people, JSON lines for log shippers.

`--log-format json` gives one JSON object per line (time, level, logger, message, and any
`extra=` fields) through python-json-logger; journald and Loki take it as it is.
"""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LEVELS = ("debug", "info", "warning", "error", "critical")


class LogSetupError(ValueError):
    """An unknown log level or format; the message lists the known ones."""


def setup(level: str = "INFO", fmt: str = "text") -> None:
    if level.lower() not in LEVELS:
        raise LogSetupError(f"unknown log level {level!r} (one of {', '.join(LEVELS)})")
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter(
            ["asctime", "levelname", "name", "message"],
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            datefmt="%Y-%m-%dT%H:%M:%S%z"))
    elif fmt == "text":
        handler.setFormatter(logging.Formatter(TEXT))
    else:
        raise LogSetupError(f"log format must be text or json, got {fmt!r}")
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
