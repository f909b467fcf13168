"""The static checks the test command runs before pytest (scripts/check: ruff, then mypy strict
on edge/ and cloud/) fail on any finding; and every `# type: ignore` in edge/ and cloud/ says why.

scripts/check runs here on a small tree of its own (this pyproject.toml's tool settings, this
.venv's tools, two tiny packages), so a finding is planted without touching the checkout.
"""

from __future__ import annotations

import re
import shutil
import subprocess
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
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / ".venv").symlink_to(REPO / ".venv")
    for package in ("edge", "cloud"):
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


def test_every_type_ignore_in_edge_and_cloud_says_why() -> None:
    """The strict mypy settings stand; where a library's types are wrong or missing, the ignore
    names its error code and a comment says why (on the line, or the line above)."""
    found = [f for package in ("edge", "cloud") for p in sorted((REPO / package).rglob("*.py"))
             for f in unjustified(p)]
    assert not found, "\n".join(found)
