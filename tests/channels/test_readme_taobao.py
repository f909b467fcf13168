"""The README's Taobao example works as written: its channels.toml table, pointed at the platform
simulator started the way the README starts it (the channel's app key, the simulator's secret and
session in the cloud's environment), pushes a figure the simulator takes and reads it back."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

from cloud.channels.base import Listing
from cloud.channels.config import parse
from cloud.channels.platforms import adapter_for
from firmware_sim.procs import free_port, wait_port

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_example(port: int) -> tuple[list[str], dict[str, object], dict[str, str]]:
    """The simulator's command line, the channel's table and the cloud's environment, as the README
    gives them (the simulator's port swapped for a free one)."""
    text = README.read_text(encoding="utf-8")
    tables = [b for b in re.findall(r"```toml\n(.*?)```", text, re.S) if "[channel.taobao]" in b]
    table = dict(tomllib.loads(tables[0])["channel"]["taobao"])
    command = next(line for line in text.splitlines()
                   if line.startswith("shelfsync sim platform --kind taobao") and "--app-key" in line)
    args = shlex.split(command.rstrip("& "))[1:]
    args[args.index("--port") + 1] = str(port)
    url = next(re.search(r'url = "([^"]+)"', line).group(1)  # type: ignore[union-attr]
               for line in text.splitlines() if line.startswith("# in channels.toml: url = "))
    table["url"] = re.sub(r":\d+/", f":{port}/", url)
    env_line = next(line for line in text.splitlines() if line.startswith("SHELFSYNC_CHANNEL_TAOBAO_SECRET="))
    env = dict(word.split("=", 1) for word in shlex.split(env_line.rstrip("\\ ")) if "=" in word)
    return args, table, env


async def test_the_readmes_taobao_channel_pushes_to_the_simulator_started_as_the_readme_says() -> None:
    port = free_port()
    args, table, env = _readme_example(port)
    sim = subprocess.Popen([sys.executable, "-m", "shelfsync.cli", *args], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        config = parse({"channel": {"taobao": table}}, env)["taobao"]
        adapter = adapter_for(config)
        try:
            listing = Listing("taobao", "06923450000106", "6001", "5001")
            result = await adapter.set_stock(listing, 7, previous=None, key="readme-example-1")
            assert result is not None
            assert await adapter.get_stock(listing) == 7
        finally:
            await adapter.close()
    finally:
        sim.terminate()
        sim.wait(10)
