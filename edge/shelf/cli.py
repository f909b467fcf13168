"""`shelfsync shelf calibrate|watch`: tare a bin, learn its unit weight, watch the shelves live.

calibrate reads the bin's module until it is stable (the same variance gate the detector uses),
then writes `tare_g` (empty bin) or `unit_g` ((gross - tare) / N with N units on the bin) back
into the store config. The file is edited with tomlkit so comments and layout survive, and
replaced atomically (write a sibling, fsync, rename) so a crash never leaves half a config.

watch polls every bus and prints one line per stable change; with --json exactly one JSON
object per line: {"bin","sku","grams","delta_g","count","delta_count","stable","at"}.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import tomllib
from collections import deque
from pathlib import Path
from typing import Any

import tomlkit

from edge.fusion.domain import BinAvailability, BinLevel, Observation, UnexplainedWeight, WeightEvent
from edge.shelf.poller import (
    BinConfig,
    ShelfConfig,
    ShelfConfigError,
    ShelfUnavailable,
    make_client,
    parse_shelf_config,
    read_bin,
    run_shelves,
)

log = logging.getLogger("shelfsync.shelf")


class CalibrationError(Exception):
    pass


def load_config(path: Path) -> ShelfConfig:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ShelfConfigError(f"cannot read {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ShelfConfigError(f"{path}: not valid TOML: {e}") from None
    if "shelf" not in doc:
        raise ShelfConfigError(f"{path}: no [shelf] section")
    return parse_shelf_config(doc["shelf"])


def write_bin_value(path: Path, bin_id: str, key: str, value: float) -> None:
    """Set `key = value` in the [[shelf.bin]] with this id; everything else stays as it was."""
    text = path.read_text(encoding="utf-8")
    doc = tomlkit.parse(text)
    shelf: Any = doc.get("shelf")
    tables = shelf.get("bin", []) if shelf is not None else []
    for table in tables:
        if table.get("id") == bin_id:
            table[key] = value
            break
    else:
        raise ShelfConfigError(f"{path}: no [[shelf.bin]] with id {bin_id!r}")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(tomlkit.dumps(doc))
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(OSError):
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


async def stable_gross(config: ShelfConfig, b: BinConfig, timeout_s: float) -> float:
    """Poll the bin until a window is stable; return its mean gross grams."""
    bus = config.bus(b.bus)
    det = config.detector
    client = make_client(bus)
    window: deque[tuple[float, float, bool]] = deque()
    deadline = time.monotonic() + timeout_s
    last_error = "no reading yet"
    try:
        if not await client.connect():
            raise CalibrationError(f"cannot connect to bus {bus.id}")
        while time.monotonic() < deadline:
            t = time.monotonic()
            try:
                r = await read_bin(client, b)
            except ShelfUnavailable as e:
                last_error = e.reason
                window.clear()
            else:
                window.append((t, r.gross_g, r.stable or not det.use_module_stable))
                while window[0][0] < t - 2 * det.window_s:
                    window.popleft()
                grams = [g for _, g, _ in window]
                if (
                    t - window[0][0] >= 1.9 * det.window_s
                    and len(grams) >= 2 * det.min_samples
                    and statistics.stdev(grams) <= det.stable_std_g
                    and all(ok for *_, ok in window)
                ):
                    return statistics.fmean(grams)
                last_error = "the bin is moving"
            await asyncio.sleep(1.0 / bus.poll_hz)  # the poll schedule
    finally:
        client.close()
    raise CalibrationError(f"bin {b.id} not stable within {timeout_s:g} s ({last_error})")


def _calibrate(args: argparse.Namespace, prog: str) -> int:
    # Refused before the bin is read: there is no safe default, since assuming one unit would
    # write the whole load as unit_g and every count on this bin would come out wrong.
    if args.action == "learn" and args.count is None:
        raise CalibrationError("learn needs --count N: the number of units you put on the bin")
    path = Path(args.config)
    config = load_config(path)
    b = config.bin(args.bin)
    print(
        f"{prog}: reading bin {b.id} (bus {b.bus}, device {b.device_id}) until stable…",
        file=sys.stderr,
        flush=True,
    )
    gross = asyncio.run(stable_gross(config, b, args.timeout))
    if args.action == "tare":
        write_bin_value(path, b.id, "tare_g", round(gross, 1))
        print(f"bin {b.id}: tare_g = {gross:.1f} g written to {path}")
        return 0
    if args.count < 1:
        raise CalibrationError("--count must be at least 1")
    unit = (gross - b.tare_g) / args.count
    if not unit > 0:
        raise CalibrationError(
            f"bin {b.id} holds {gross - b.tare_g:.1f} g over its tare; "
            "put the units on it, or tare it empty first"
        )
    write_bin_value(path, b.id, "unit_g", round(unit, 2))
    print(
        f"bin {b.id}: unit_g = {unit:.2f} g ({args.count} units, {gross - b.tare_g:.1f} g) "
        f"written to {path}"
    )
    return 0


def _line(obs: Observation, as_json: bool) -> str | None:
    if isinstance(obs, WeightEvent | UnexplainedWeight):
        if as_json:
            return json.dumps(obs.to_json(), separators=(",", ":"))
        if isinstance(obs, WeightEvent):
            return (
                f"{obs.at:%H:%M:%S} {obs.bin:<8} {obs.delta_count:+d} → {obs.count:>4} units "
                f"({obs.delta_g:+.0f} g, residual {obs.residual_g:+.1f} g)"
            )
        return (
            f"{obs.at:%H:%M:%S} {obs.bin:<8} unexplained {obs.delta_g:+.0f} g "
            f"(≈{obs.nearest_count:+d} units, residual {obs.residual_g:+.1f} g)"
        )
    if as_json:
        return None  # levels and availability go to stderr, the JSON stream stays one shape
    if isinstance(obs, BinLevel):
        return f"{obs.at:%H:%M:%S} {obs.bin:<8} {obs.count:>4} units ({obs.grams or 0.0:.0f} g)"
    if isinstance(obs, BinAvailability):
        state = "back" if obs.available else "UNAVAILABLE: " + obs.reason
        return f"{obs.at:%H:%M:%S} {obs.bin:<8} {state}"
    return None  # a scale reports nothing else


async def _watch(
    config: ShelfConfig, as_json: bool, seconds: float | None, max_events: int | None
) -> int:
    done = asyncio.Event()
    events = 0

    def emit(obs: Observation) -> None:
        nonlocal events
        if isinstance(obs, BinAvailability):
            log.warning(
                "bin %s %s", obs.bin, "back" if obs.available else "unavailable: " + obs.reason
            )
        if isinstance(obs, BinLevel) and as_json:
            print(
                f"bin {obs.bin}: {obs.count} units ({obs.grams or 0.0:.0f} g)", file=sys.stderr, flush=True
            )
        line = _line(obs, as_json)
        if line is not None:
            print(line, flush=True)
        if isinstance(obs, WeightEvent | UnexplainedWeight):
            events += 1
            if max_events is not None and events >= max_events:
                done.set()

    levels: dict[str, str] = {}

    def remember(obs: Observation) -> None:
        if isinstance(obs, BinLevel | WeightEvent):
            levels[obs.bin] = f"{obs.count}"
        elif isinstance(obs, BinAvailability):
            levels[obs.bin] = "?" if not obs.available else levels.get(obs.bin, "…")
        emit(obs)

    async def live_view() -> None:
        # Without --json, a one-line picture of every bin every few seconds on stderr.
        while True:
            await asyncio.sleep(5.0)  # the refresh period of the view
            row = "  ".join(f"{b.id}={levels.get(b.id, '…')}" for b in config.bins)
            print(f"[{time.strftime('%H:%M:%S')}] {row}", file=sys.stderr, flush=True)

    task = asyncio.create_task(run_shelves(config, remember))
    view = None if as_json else asyncio.create_task(live_view())
    stop = asyncio.create_task(done.wait())
    try:
        await asyncio.wait({task, stop}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.error("shelf polling stopped: %r", task.exception())
            return 1
    finally:
        for t in (task, view, stop):
            if t is not None:
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
    return 0


def _parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Weight shelves: tare a bin, learn its unit weight, watch live.",
        epilog="examples:\n"
        f"  {prog} calibrate --config store.toml --bin A1-2 tare          # bin empty\n"
        f"  {prog} calibrate --config store.toml --bin A1-2 learn --count 6\n"
        f"  {prog} watch --config store.toml --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    cal = sub.add_parser("calibrate", help="learn tare or unit weight and write it to the config")
    cal.add_argument(
        "--config", required=True, help="store config (TOML) with [[shelf.bin]] tables"
    )
    cal.add_argument("--bin", required=True, help="bin id, e.g. A1-2")
    cal.add_argument("--timeout", type=float, default=20.0, help="seconds to wait for stability")
    cal.add_argument(
        "action", choices=["tare", "learn"], help="tare: bin empty; learn: N units on it"
    )
    cal.add_argument("--count", type=int, help="units on the bin for `learn` (required there)")
    watch = sub.add_parser("watch", help="poll every bin and print each stable change")
    watch.add_argument("--config", required=True, help="store config (TOML)")
    watch.add_argument("--json", action="store_true", help="one JSON object per line")
    watch.add_argument("--seconds", type=float, default=None, help="stop after this long")
    watch.add_argument("--events", type=int, default=None, help="stop after this many changes")
    return p


def main(argv: list[str], prog: str = "shelfsync shelf") -> int:
    args = _parser(prog).parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    try:
        if args.command == "calibrate":
            return _calibrate(args, prog)
        config = load_config(Path(args.config))
        if not config.bins:
            raise ShelfConfigError(f"{args.config}: no [[shelf.bin]] tables")
        print(
            f"{prog}: watching {len(config.bins)} bins on {len(config.buses)} buses",
            file=sys.stderr,
            flush=True,
        )
        return asyncio.run(_watch(config, args.json, args.seconds, args.events))
    except (ShelfConfigError, CalibrationError, ShelfUnavailable) as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
