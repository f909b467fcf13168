"""The console's words for the replenishment pages, in English and Chinese (see i18n.py)."""

from __future__ import annotations

WORDS: dict[str, tuple[str, str]] = {
    "nav.replenishment": ("Replenishment", "补货"),
}
