"""Known names in the tables of a TOML config file: a misspelt key or section is an error.

Every parser of a config file (store.toml and the sections its modules own, the cloud's
`--channels` and `--alerts` files) declares the keys each of its tables takes and calls
`check_keys` (or `check_sections` for the top level) before reading it. A name that is not
known is an error naming where it is and the closest known name (difflib's ratio, the same
suggestion Python gives for a misspelt attribute), so `[http] listne = …` stops start-up with
`[http] unknown key "listne" — did you mean "listen"?` instead of being ignored.

Hand-written rather than a schema library: the parsers already check types and ranges into
frozen dataclasses (config is parsed once, STYLE.md); what was missing is only this, and a
second description of every table in a schema language would drift from the parsers.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from typing import Any


class UnknownName(ValueError):
    """A table holds a key (or the file a section) that its parser does not know, or lacks a
    required one. Parsers translate it into their own error type where they call the check."""


def closest(name: str, known: Collection[str]) -> str | None:
    """The known name `name` is most likely a misspelling of, if any is close enough."""
    matches = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return matches[0] if matches else None


def check_keys(table: Mapping[str, Any], known: Collection[str], where: str, *,
               required: Collection[str] = (), error: type[Exception] = UnknownName) -> None:
    """Every key of `table` is in `known` and every `required` key is present; else `error`
    with `where` (how the table is written in the file, e.g. "[http]") and a suggestion."""
    for key in table:
        if key not in known:
            raise error(f'{where} unknown key "{key}"' + _suggestion(key, known, '"{}"'))
    for key in required:
        if key not in table:
            raise error(f'{where} missing required key "{key}"')


def check_sections(doc: Mapping[str, Any], sections: Collection[str], *,
                   keys: Collection[str] = (), required: Collection[str] = (),
                   error: type[Exception] = UnknownName) -> None:
    """The top level of a file: its tables are among `sections`, its plain keys among `keys`,
    and every `required` section is there."""
    for name, value in doc.items():
        if name in sections or name in keys:
            continue
        if isinstance(value, Mapping):
            raise error(f"unknown section [{name}]" + _suggestion(name, sections, "[{}]"))
        hint = _suggestion(name, keys, '"{}"') if keys else (
            f" (keys go inside a section: {', '.join(f'[{s}]' for s in sections)})")
        raise error(f'unknown key "{name}" at the top level' + hint)
    for name in required:
        if name not in doc:
            raise error(f"missing required section [{name}]")


def _suggestion(name: str, known: Collection[str], form: str) -> str:
    match = closest(name, known)
    if match is not None:
        return f" — did you mean {form.format(match)}?"
    return f" (known: {', '.join(form.format(k) for k in sorted(known))})" if known else ""
