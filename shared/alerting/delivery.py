"""Delivery of notifications through apprise (research/cloud.md §5: json://, ntfy://, wecombot://,
...), one target at a time: one failing target never hides the others' success."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator, Sequence

import apprise

from shared.alerting.rules import (
    Notification,
)

log = logging.getLogger(__name__)



@contextlib.contextmanager
def apprise_quiet() -> Iterator[None]:
    """apprise 2.3 loads its plugins lazily on the first add(); its e-mail plugin imports the
    stdlib imghdr, which warns on 3.11 (the warning is apprise's, not ours). It also logs its own
    error for a URL it refuses, which the caller reports better, with where the URL is."""
    lib_log = logging.getLogger("apprise")
    disabled, lib_log.disabled = lib_log.disabled, True
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "'imghdr' is deprecated", DeprecationWarning)
            yield
    finally:
        lib_log.disabled = disabled


def known_schemes() -> set[str]:
    """Every URL scheme this apprise knows (its plugins' `protocols` and `secure_protocols`)."""
    schemes: set[str] = set()
    for plugin in apprise.Apprise().details()["schemas"]:
        for key in ("protocols", "secure_protocols"):
            names = plugin.get(key) or ()
            schemes.update([names] if isinstance(names, str) else names)
    return schemes


async def deliver(urls: Sequence[str], n: Notification) -> set[str]:
    """Send one notification to each of `urls` through apprise, one target at a time so that one
    failing does not hide the others' success; returns the targets it reached. A URL apprise
    refuses here (none should: they are checked at start) is a target not reached, never sent."""
    kind = {
        "raised": apprise.NotifyType.WARNING,
        "escalated": apprise.NotifyType.FAILURE,
        "resolved": apprise.NotifyType.SUCCESS,
    }.get(n.event, apprise.NotifyType.INFO)
    reached = set()
    for url in urls:
        ap = apprise.Apprise()
        with apprise_quiet():
            added = ap.add(url)
        if not added:
            log.error("alert %s %s: apprise refuses a %s URL; kept for retry", n.event, n.key, n.role)
            continue
        try:
            if await ap.async_notify(body=n.body, title=n.title, notify_type=kind):
                reached.add(url)
        except Exception:  # apprise plugins raise assorted errors; a failed send is retried
            log.exception("apprise delivery failed")
    return reached


