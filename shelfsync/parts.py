"""Is the installable part a command needs installed here? (pyproject.toml's extras: edge,
camera, cloud, sim, test.)

`shelfsync` starts on the base install, which has no part: a command whose part is missing says
so in one line and which `pip install` brings it, instead of a ModuleNotFoundError from deep in
an import. The parts' requirements are read from this install's own metadata (the Requires-Dist
lines pip wrote from pyproject.toml), so they are written down once, in pyproject.toml. This
module imports only the standard library and `packaging`, the base install's one requirement,
which evaluates the markers (`extra == "edge"`, platform conditions) as pip does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

DISTRIBUTION = "shelfsync"


def requirements(requires: Iterable[str], part: str) -> list[Requirement]:
    """What `part` adds to the base install on this platform: the requirements whose marker holds
    with `extra == part` and not without it, self-references (test → shelfsync[edge,...]) followed."""
    parsed = [Requirement(text) for text in requires]
    out: list[Requirement] = []
    todo, seen = [part], set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for req in parsed:
            if (req.marker is None or not req.marker.evaluate({"extra": extra})
                    or req.marker.evaluate({"extra": ""})):
                continue
            if canonicalize_name(req.name) == DISTRIBUTION:
                todo.extend(sorted(req.extras))
            else:
                out.append(req)
    return out


def missing(parts: Sequence[str], requires: Iterable[str], installed: Callable[[str], bool]) -> list[str]:
    """The parts, in the order given, of which some requirement is not installed."""
    requires = list(requires)
    return [p for p in parts if not all(installed(req.name) for req in requirements(requires, p))]


def is_installed(name: str) -> bool:
    try:
        metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def missing_here(parts: Sequence[str]) -> list[str]:
    """`missing` for this install. A checkout run without installing has no metadata to judge by:
    nothing is reported, and the command's imports tell."""
    try:
        requires = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        return []
    return missing(parts, requires, is_installed)


def advice(command: str, parts: Sequence[str]) -> str:
    """One line: which parts `shelfsync COMMAND` needs and the pip command that installs them."""
    named = parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
    return (f"shelfsync {command} needs the {named} part{'s' if len(parts) > 1 else ''}: "
            f"pip install 'shelfsync[{','.join(parts)}]'")
