"""`shelfsync bench llrp`: RFID reads/s the gateway ingests, and how fast the simulator reads.

1. Ingest: a stream of RO_ACCESS_REPORT frames (SGTIN-96 EPCs of the store world's units, RSSI,
   antenna, timestamps; 5 % of reads from another zone so presence produces moves) is fed through
   the gateway's real path on one core: LLRP framing and sllurp decoding (`_LLRPConnection`), EPC
   → GTIN + serial (epcpy, memoised), EdgeX presence (`PresenceTracker`), and `move` deltas into
   the SQLite outbox. Reported: reads/s, with one tag per report (what `report_every_n_tags=1`
   gives) and 32 per report. Baseline from the same run: sllurp's generic message decoder alone
   over the same frames (the driver hands every other message to sllurp, but decodes reports
   with its own lean parser, since sllurp's decoder alone would cap ingest near this figure).
   Target (issue 3): >= 20,000 reads/s.
2. Simulator: `shelfsync sim llrp` in its own process with an unlimited air rate and dual target
   (every tag answers every round); a bare TCP client counts TagReportData received for a few
   seconds. Reported: tags/s the simulator can emit, one tag per report and 100 per report.

Prints medians of several rounds; --json prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sllurp.llrp import LLRPMessage
from sllurp.llrp_proto import LLRPROSpec

from edge.delivery.outbox import Outbox
from edge.rfid.driver import ReaderSettings, ReaderStats, TagRead, _LLRPConnection
from edge.rfid.epc import EpcDecoder
from edge.rfid.presence import PresenceConfig, PresenceTracker, Sighting, presence_deltas
from firmware_sim.llrp import frames as fr
from firmware_sim.llrp.air import TagField, world_for_tags
from shelfsync.cli import repo_root
from tests.support.rounds import load, spread

ALIASES = {"r1_1": "floor", "r1_2": "floor", "r1_3": "floor", "r1_4": "backroom"}


def build_stream(reads: int, tags: int, per_report: int, seed: int = 1) -> list[bytes]:
    """RO_ACCESS_REPORT frames carrying `reads` tag reads of `tags` distinct world EPCs."""
    field = TagField(world_for_tags(tags, seed), 4, seed, tags)
    population = field.tags
    rng = random.Random(seed)
    sel = fr.ContentSelector(
        antenna_id=True, peak_rssi=True, first_seen=True, last_seen=True, tag_seen_count=True
    )
    t_us = 1_795_000_000_000_000
    frames: list[bytes] = []
    batch: list[fr.TagReport] = []
    for i in range(reads):
        tag = population[i % len(population)]
        home = tag.sightings[0]
        antenna = home.antenna
        rssi = home.rssi + rng.randint(-2, 2)
        if rng.random() < 0.05:  # carried across: a strong read in the other zone
            antenna = 1 if antenna == 4 else 4
            rssi = -35
        t_us += 2000
        batch.append(fr.TagReport(tag.epc, antenna, rssi, 1, t_us, t_us, 1, 1))
        if len(batch) == per_report:
            frames.append(
                fr.encode_frame(fr.MsgType.RO_ACCESS_REPORT, i, fr.ro_access_report(batch, sel))
            )
            batch = []
    if batch:
        frames.append(
            fr.encode_frame(fr.MsgType.RO_ACCESS_REPORT, reads, fr.ro_access_report(batch, sel))
        )
    return frames


class _NullTransport(asyncio.Transport):
    def write(self, data: Any) -> None:
        pass

    def is_closing(self) -> bool:
        return False


async def ingest_round(stream: bytes, outbox: Outbox) -> tuple[float, int, int]:
    """(seconds, reads ingested, move deltas stored) for one pass over the stream."""
    tracker = PresenceTracker(PresenceConfig(aliases=ALIASES))
    events: list[Any] = []
    count = 0
    seq = itertools.count(1)

    def sink(read: TagRead) -> None:
        nonlocal count
        count += 1
        events.extend(
            tracker.observe(Sighting(read.epc, read.gtin, read.location, read.rssi, read.at))
        )

    conn = _LLRPConnection(
        ReaderSettings("r1", "127.0.0.1"), sink, ReaderStats(), EpcDecoder(), lambda: None
    )
    conn.connection_made(_NullTransport())
    conn.inventorying.set()
    moves = 0
    t0 = time.perf_counter()
    for i in range(0, len(stream), 65536):  # what a socket read hands the protocol
        conn.data_received(stream[i : i + 65536])
        deltas, _ = presence_deltas(events, lambda: next(seq))
        events.clear()
        if deltas:
            await outbox.append(deltas)
            moves += len(deltas)
    return time.perf_counter() - t0, count, moves


def baseline_round(frames: list[bytes]) -> float:
    t0 = time.perf_counter()
    for f in frames:
        LLRPMessage(msgbytes=f)
    return time.perf_counter() - t0


async def ingest(reads: int, tags: int, per_report: int, rounds: int) -> dict[str, float]:
    frames = build_stream(reads, tags, per_report)
    stream = b"".join(frames)
    rates, base, moves = [], [], 0
    with tempfile.TemporaryDirectory() as tmp:
        async with Outbox(Path(tmp) / "outbox.db") as outbox:
            for _ in range(rounds):
                seconds, count, moves = await ingest_round(stream, outbox)
                rates.append(count / seconds)
                base.append(reads / baseline_round(frames))
    return {
        "reads_per_s": statistics.median(rates),
        "sllurp_decode_only_reads_per_s": statistics.median(base),
        "reads_per_s_rounds": spread(rates, 0),
        "sllurp_decode_only_rounds": spread(base, 0),
        "over_sllurp_decode_only": spread([r / b for r, b in zip(rates, base, strict=True)], 2),
        "moves_per_round": moves,
    }


# --- the simulator's maximum rate -------------------------------------------------------------


def start_sim(tags: int) -> tuple[subprocess.Popen[str], int]:
    env = {**os.environ, "PYTHONPATH": str(repo_root())}
    proc = subprocess.Popen(
        [
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
            str(tags),
            "--rate",
            "1e9",
            "--seed",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        raise RuntimeError(f"the simulator did not start: {line!r}")
    port = int(line.split("listening on ", 1)[1].split(":", 2)[1])
    return proc, port


async def sim_round(port: int, per_report: int, seconds: float) -> float:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        spec = LLRPROSpec(
            None,
            1,
            antennas=(1, 2, 3, 4),
            session=2,
            impinj_search_mode=2,
            report_every_n_tags=per_report,
            tag_content_selector={"EnableAntennaID": True, "EnablePeakRSSI": True},
        )
        for i, msg in enumerate(
            [
                {"DELETE_ROSPEC": {"ROSpecID": 0}},
                {"ADD_ROSPEC": {"ROSpecID": 1, "ROSpec": spec}},
                {"ENABLE_ROSPEC": {"ROSpecID": 1}},
            ]
        ):
            next(iter(msg.values()))["ID"] = i + 1
            writer.write(LLRPMessage(msgdict=msg).msgbytes)
        tags = 0
        t0 = None
        while True:
            header = await reader.readexactly(10)
            word, length, _ = struct.unpack("!HII", header)
            body = await reader.readexactly(length - 10)
            if word & 0x3FF != fr.MsgType.RO_ACCESS_REPORT:
                continue
            if t0 is None:
                t0 = time.perf_counter()
                continue
            tags += sum(1 for p in fr.iter_params(body) if p.type == fr.P.TAG_REPORT_DATA)
            if time.perf_counter() - t0 >= seconds:
                return tags / (time.perf_counter() - t0)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


async def simulator(tags: int, rounds: int, seconds: float) -> dict[str, float]:
    proc, port = start_sim(tags)
    try:
        out = {}
        for n in (1, 100):
            rates = []
            for _ in range(rounds):
                rates.append(await sim_round(port, n, seconds))
            out[f"tags_per_s_report_every_{n}"] = statistics.median(rates)
        return out
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def main(argv: list[str], prog: str = "shelfsync bench llrp") -> int:
    p = argparse.ArgumentParser(
        prog=prog,
        description=__doc__.split("\n\n")[0],
        epilog=f"example: {prog} --json --rounds 5",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--rounds", type=int, default=5, help="rounds per figure (median reported)")
    p.add_argument("--reads", type=int, default=40_000, help="reads per ingest round")
    p.add_argument(
        "--tags", type=int, default=5_000, help="distinct tags in the stream / simulator"
    )
    p.add_argument("--seconds", type=float, default=2.0, help="seconds per simulator round")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.reads < 1 or args.tags < 1 or args.seconds <= 0:
        p.error("--rounds, --reads, --tags and --seconds must be positive")
    result: dict[str, Any] = {"machine": os.uname().machine, "cpus": os.cpu_count(), "load_at_start": load()}
    for per_report in (1, 32):
        print(f"ingest, {per_report} tag(s) per report...", file=sys.stderr, flush=True)
        result[f"ingest_report_every_{per_report}"] = asyncio.run(
            ingest(args.reads, args.tags, per_report, args.rounds)
        )
    print("simulator maximum rate...", file=sys.stderr, flush=True)
    result["simulator"] = asyncio.run(simulator(args.tags, max(1, args.rounds // 2), args.seconds))
    result["load_at_end"] = load()
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for per_report in (1, 32):
        r = result[f"ingest_report_every_{per_report}"]
        print(
            f"gateway ingest ({per_report:2d} tags/report): {r['reads_per_s']:9,.0f} reads/s "
            f"(sllurp decode alone {r['sllurp_decode_only_reads_per_s']:9,.0f}; "
            f"{r['moves_per_round']} move deltas/round into the outbox)"
        )
    for k, v in result["simulator"].items():
        print(f"simulator {k.replace('_', ' ')}: {v:9,.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
