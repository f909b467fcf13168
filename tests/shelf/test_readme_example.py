"""The README's weight-shelf example reads the file it writes: every `shelfsync shelf` command in it
takes the configuration the simulator's `--print-config` wrote (it used to write shelf.toml and
then read store.toml, a file the example never made). That the printed tables calibrate a bin is
tests/shelf/test_cli.py's."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_shelf_commands_read_the_file_the_simulator_wrote() -> None:
    lines = [line.split("  #")[0].strip() for line in README.read_text(encoding="utf-8").splitlines()]
    [written] = [re.search(r"--print-config > (\S+)", line).group(1)  # type: ignore[union-attr]
                 for line in lines if line.startswith("shelfsync sim shelf") and "--print-config >" in line]
    commands = [shlex.split(line) for line in lines if line.startswith("shelfsync shelf ")]
    assert commands, "the README shows no shelf command"
    for words in commands:
        assert words[words.index("--config") + 1] == written, " ".join(words)
