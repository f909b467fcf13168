"""The static checks the test command runs before pytest (scripts/check: ruff, mypy strict on the
packages it lists, import-linter) fail on any finding; and every `# type: ignore` in the packages
mypy checks says why.

scripts/check runs here on a small tree of its own (this pyproject.toml's ruff and mypy settings,
one import contract of its own, this .venv's tools, tiny packages), so a finding is planted
without touching the checkout.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TYPED = 'def on_shelf(count: int) -> bool:\n    return count > 0\n'


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    if not (REPO / ".venv" / "bin" / "mypy").exists():
        pytest.skip("the test part is not installed in .venv (bash scripts/setup)")
    (tmp_path / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "check", tmp_path / "scripts" / "check")
    # This pyproject.toml without its import contracts (they name the checkout's modules), and one
    # contract over the tiny packages instead.
    project = (REPO / "pyproject.toml").read_text()
    project = re.sub(r"^\[+tool\.importlinter[^\n]*\n(?:(?!\[).*\n|\n)*", "", project, flags=re.M)
    packages = tomllib.loads(project)["tool"]["mypy"]["packages"]
    project += (f"\n[tool.importlinter]\nroot_packages = {packages!r}\n\n"
                '[[tool.importlinter.contracts]]\nname = "The cloud never imports the gateway"\n'
                'type = "forbidden"\nsource_modules = ["cloud"]\nforbidden_modules = ["edge"]\n')
    (tmp_path / "pyproject.toml").write_text(project)
    (tmp_path / ".venv").symlink_to(REPO / ".venv")
    for package in packages:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text(f'"""{package}"""\n')
    (tmp_path / "edge" / "shelf.py").write_text('"""A bin."""\n\n\n' + TYPED)
    return tmp_path


def check(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(tree / "scripts" / "check")], capture_output=True, text=True,
                          timeout=300, check=False)


def test_a_clean_tree_passes(tree: Path) -> None:
    done = check(tree)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "check: ok"


def test_a_lint_finding_fails_the_check_and_mypy_still_runs(tree: Path) -> None:
    (tree / "cloud" / "ledger.py").write_text('"""Balances."""\n\nimport os\n')  # F401
    (tree / "edge" / "scale.py").write_text('"""Grams."""\n\n\ndef grams(x):\n    return x\n')
    done = check(tree)
    assert done.returncode == 1
    assert "F401" in done.stdout and "cloud/ledger.py" in done.stdout
    assert "edge/scale.py" in done.stdout and "no-untyped-def" in done.stdout  # strict mypy
    assert "check: FAILED: ruff mypy" in done.stderr


def test_a_forbidden_import_alone_fails_the_check(tree: Path) -> None:
    (tree / "cloud" / "ledger.py").write_text('"""Balances."""\n\nfrom edge.shelf import on_shelf\n\n'
                                              '__all__ = ["on_shelf"]\n')
    done = check(tree)
    assert done.returncode == 1 and "check: FAILED: import-linter" in done.stderr, done.stdout
    assert "cloud.ledger -> edge.shelf" in done.stdout


def test_a_type_error_alone_fails_the_check(tree: Path) -> None:
    (tree / "edge" / "scale.py").write_text('"""Grams."""\n\n\ndef grams() -> int:\n    return "12"\n')
    done = check(tree)
    assert done.returncode == 1 and "check: FAILED: mypy" in done.stderr, done.stdout


IGNORE = re.compile(r"#\s*type:\s*ignore(\[[^\]]*\])?")


def unjustified(path: Path) -> list[str]:
    """Lines whose `# type: ignore` has no comment after it on the line, nor a comment line
    directly above."""
    lines = path.read_text().splitlines()
    found = []
    for i, line in enumerate(lines):
        match = IGNORE.search(line)
        if match is None:
            continue
        after = line[match.end():].strip()
        above = lines[i - 1].strip() if i else ""
        if not after.startswith("#") and not above.startswith("#"):
            found.append(f"{path.relative_to(REPO)}:{i + 1}: {line.strip()}")
    return found


def test_every_type_ignore_in_the_packages_mypy_checks_says_why() -> None:
    """The strict mypy settings stand; where a library's types are wrong or missing, the ignore
    names its error code and a comment says why (on the line, or the line above)."""
    packages = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mypy"]["packages"]
    assert {"edge", "cloud"} <= set(packages)
    found = [f for package in packages for p in sorted((REPO / package).rglob("*.py"))
             for f in unjustified(p)]
    assert not found, "\n".join(found)


PROBE = '''
import asyncio


class Box:
    pass


def test_a_coroutine_never_awaited_in_a_reference_cycle() -> None:
    box = Box()
    box.me = box
    box.pending = asyncio.sleep(0)


async def test_a_task_left_running() -> None:
    asyncio.create_task(asyncio.Event().wait(), name="forgotten")  # garbage once the test ends


async def test_a_task_left_sleeping() -> None:
    asyncio.create_task(asyncio.sleep(3600), name="sleeper")  # the loop's timer keeps it alive


def test_sync_and_clean() -> None:
    pass


async def test_async_and_clean() -> None:
    task = asyncio.create_task(asyncio.sleep(0))
    await task
'''


def test_a_test_leaving_a_task_running_or_a_coroutine_never_awaited_fails_at_its_own_teardown(
        tmp_path: Path) -> None:
    """tests/conftest.py's fixtures in a session of their own: each stray is blamed on the test
    that left it (a coroutine in a reference cycle is otherwise freed, and warned about, later)."""
    (tmp_path / "conftest.py").write_text(
        "from tests.conftest import _no_leaked_tasks, _no_stray_async_work, pytest_collection_finish\n"
        "__all__ = ['_no_leaked_tasks', '_no_stray_async_work', 'pytest_collection_finish']\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
                                         "filterwarnings = error\n")
    (tmp_path / "test_probe.py").write_text(PROBE)
    done = subprocess.run([str(REPO / ".venv" / "bin" / "python"), "-m", "pytest", "-q", "-rA", "-p",
                           "no:cacheprovider", str(tmp_path)], capture_output=True, text=True, timeout=120,
                          check=False, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)})
    out = done.stdout
    assert "5 passed, 3 errors" in out, out  # every test's own body passes; three fail at teardown
    assert "ERROR test_probe.py::test_a_coroutine_never_awaited_in_a_reference_cycle" in out
    assert "coroutine 'sleep' was never awaited" in out
    assert "ERROR test_probe.py::test_a_task_left_running" in out
    assert "the test left 1 task(s) running: forgotten Event.wait" in out
    assert "ERROR test_probe.py::test_a_task_left_sleeping" in out
    assert "the test left 1 task(s) running: sleeper sleep" in out
