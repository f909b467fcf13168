"""`shelfsync sim llrp` as a user runs it: its own process, a port, faults typed on stdin."""

from __future__ import annotations

import asyncio
import os
import sys

from shelfsync.cli import repo_root
from tests.rfid.conftest import SllurpPeer


async def test_sim_llrp_command_serves_llrp_and_takes_faults_on_stdin() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shelfsync.cli",
        "sim",
        "llrp",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--tags",
        "100",
        "--antennas",
        "2",
        "--rate",
        "500",
        "--seed",
        "4",
        "--vendor",
        "generic",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(repo_root())},
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        async with asyncio.timeout(20):
            line = (await proc.stdout.readline()).decode()
            assert "listening on 127.0.0.1:" in line and "100 tags" in line and "2 antennas" in line
            assert "standard LLRP only" in line
            port = int(line.split("127.0.0.1:")[1].split(":")[0])
            peer = await SllurpPeer.connect(port)
            hello = await peer.recv()
            assert hello.isSuccess()
            msg_id = peer.send({"IMPINJ_ENABLE_EXTENSIONS": {}})
            err = (await peer.recv_named("ERROR_MESSAGE")).msgdict["ERROR_MESSAGE"]
            assert (err["ID"], err["LLRPStatus"]["StatusCode"]) == (msg_id, "UnsupportedMessage")
            proc.stdin.write(b"drop\n")
            await proc.stdin.drain()
            assert await peer.closed_by_peer()
            await peer.close()
            proc.stdin.write(b"quit\n")
            await proc.stdin.drain()
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_sim_llrp_help_and_bad_arguments() -> None:
    async def run(*args: str) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "shelfsync.cli",
            "sim",
            "llrp",
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(repo_root())},
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 20)
        return proc.returncode or 0, out.decode()

    code, out = await run("--help")
    assert code == 0 and "examples:" in out and "shelfsync sim llrp --port 5084" in out
    assert "--vendor {impinj,generic}" in out
    code, out = await run("--vendor", "zebra")
    assert code == 2 and "invalid choice: 'zebra'" in out
    code, out = await run("--antennas", "0")
    assert code == 2 and "--antennas must be within 1..32" in out
