"""Fixtures for the RFID tests: a simulated LLRP reader on a free port, and a raw LLRP peer that
encodes and decodes with sllurp (the independent implementation the simulator is checked
against)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sllurp.llrp import LLRPMessage

from firmware_sim.llrp.reader import LLRPReaderSim, SimSettings


@pytest.fixture
async def sim() -> AsyncIterator[LLRPReaderSim]:
    reader = LLRPReaderSim(SimSettings(tags=300, rate=3000, seed=3))
    await reader.start()
    try:
        yield reader
    finally:
        await reader.close()


@pytest.fixture
async def generic() -> AsyncIterator[LLRPReaderSim]:
    """The same reader as `sim`, but not an Impinj: standard LLRP only, no vendor extensions."""
    async with LLRPReaderSim(SimSettings(tags=300, rate=3000, seed=3, vendor="generic")) as reader:
        yield reader


def probe_port(port: int) -> None:
    """A TCP port probe (what `nc -z` or a monitoring check does): connect, close at once.

    Blocking on purpose: the probe's connect and close both complete before the event loop (and so
    the in-process reader) runs again, so the reader meets the probe and the next client together,
    as a reader in its own process meets them when they come back to back."""
    with socket.create_connection(("127.0.0.1", port), timeout=3):
        pass


class SllurpPeer:
    """A bare LLRP client over TCP: sllurp's message codec, no sllurp state machine."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.next_id = 100

    @classmethod
    async def connect(cls, port: int) -> SllurpPeer:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        return cls(r, w)

    async def recv_raw(self, within: float = 3.0) -> bytes:
        async with asyncio.timeout(within):
            header = await self.reader.readexactly(10)
            _, length, _ = struct.unpack("!HII", header)
            return header + await self.reader.readexactly(length - 10)

    async def recv(self, within: float = 3.0) -> LLRPMessage:
        return LLRPMessage(msgbytes=await self.recv_raw(within))

    async def recv_named(self, name: str, within: float = 3.0) -> LLRPMessage:
        """The next message called `name`, skipping keepalives, reports and events in between."""
        async with asyncio.timeout(within):
            while True:
                msg = await self.recv(within)
                if msg.getName() == name:
                    return msg

    def send(self, message: dict[str, Any]) -> int:
        name = next(iter(message))
        self.next_id += 1
        message[name]["ID"] = self.next_id
        self.writer.write(LLRPMessage(msgdict=message).msgbytes)
        return self.next_id

    async def request(self, message: dict[str, Any], within: float = 3.0) -> dict[str, Any]:
        name = next(iter(message))
        msg_id = self.send(message)
        reply = await self.recv_named(name + "_RESPONSE", within)
        body: dict[str, Any] = reply.msgdict[name + "_RESPONSE"]
        assert body["ID"] == msg_id, "a response echoes its request's message ID (LLRP 1.0.1 §16.1)"
        return body

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()

    async def closed_by_peer(self, within: float = 3.0) -> bool:
        """True once the reader closes the connection (reads until EOF)."""
        async with asyncio.timeout(within):
            try:
                while await self.reader.read(65536):
                    pass
            except ConnectionError:
                pass
        return True


@pytest.fixture
async def peer(sim: LLRPReaderSim) -> AsyncIterator[SllurpPeer]:
    p = await SllurpPeer.connect(sim.port)
    hello = await p.recv()
    assert hello.getName() == "READER_EVENT_NOTIFICATION" and hello.isSuccess()
    try:
        yield p
    finally:
        await p.close()
