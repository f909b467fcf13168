"""`shelfsync sim llrp`: a simulated LLRP reader on TCP, with its fault switches on stdin."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys

from firmware_sim.llrp.reader import VENDORS, LLRPReaderSim, SimSettings

log = logging.getLogger("shelfsync.sim.llrp")


# --- command line ---------------------------------------------------------------------------

EPILOG = """examples:
  shelfsync sim llrp --port 5084 --tags 2000 --antennas 4 --rate 400 --seed 7
  shelfsync sim llrp --port 5084 --vendor generic     a reader of another make than Impinj

Antennas 1..N-1 cover the sales floor (by bin), antenna N the backroom. While it runs, type a
fault on stdin: drop | silent | corrupt [header|param|epc].
"""


def _parse(argv: list[str], prog: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog=prog,
        description="An LLRP 1.0.1 RFID reader on TCP, observing the simulated store world.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    p.add_argument(
        "--port", type=int, default=5084, help="TCP port (default 5084, LLRP's IANA port)"
    )
    p.add_argument(
        "--tags", type=int, default=None, help="tagged units in the field (default: the world's)"
    )
    p.add_argument("--antennas", type=int, default=4, help="antenna ports, 1..32 (default 4)")
    p.add_argument("--door", type=int, default=None, metavar="ANTENNA",
                   help="an antenna over the exit: units sold or stolen pass it as shoppers leave, "
                        "returns and transfers as they are carried in (the inner one, with --door-out)")
    p.add_argument("--door-out", type=int, default=None, metavar="ANTENNA",
                   help="with --door: a second antenna, outside the door; the order the two read a "
                        "unit in tells leaving from entering")
    p.add_argument(
        "--rate", type=float, default=400.0, help="air rate, singulations/s (default 400)"
    )
    p.add_argument("--seed", type=int, default=0, help="world and radio seed (default 0)")
    p.add_argument(
        "--vendor",
        choices=VENDORS,
        default="impinj",
        help="impinj (default): takes Impinj's LLRP extensions; generic: another make, standard "
        "LLRP only (custom messages answered with ERROR_MESSAGE)",
    )
    p.add_argument(
        "--world-speed",
        type=float,
        default=0.0,
        help="shop seconds per second of air time while inventorying (default 0: frozen)",
    )
    p.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="seconds of air time per wall-clock second (default 1; >1 fast-forwards)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log every connection and fault")
    args = p.parse_args(argv)
    if not 1 <= args.antennas <= 32:
        p.error("--antennas must be within 1..32")
    if args.door is not None and not 1 <= args.door <= args.antennas:
        p.error("--door must be one of the antennas")
    if args.door_out is not None and (args.door is None or args.door_out == args.door
                                      or not 1 <= args.door_out <= args.antennas):
        p.error("--door-out needs --door and must be another of the antennas")
    if args.rate <= 0 or args.time_scale <= 0 or args.world_speed < 0:
        p.error("--rate and --time-scale must be positive, --world-speed >= 0")
    if args.tags is not None and args.tags < 0:
        p.error("--tags must be >= 0")
    return args


async def _serve(args: argparse.Namespace) -> None:
    settings = SimSettings(
        antennas=args.antennas,
        rate=args.rate,
        seed=args.seed,
        tags=args.tags,
        world_speed=args.world_speed,
        time_scale=args.time_scale,
        door=args.door,
        door_out=args.door_out,
        vendor=args.vendor,
    )
    print(f"building the store world (seed {args.seed})...", file=sys.stderr, flush=True)
    sim = LLRPReaderSim(settings)
    await sim.start(args.host, args.port)
    zones: dict[str, int] = {}
    for t in sim.field.tags:
        zones[t.zone] = zones.get(t.zone, 0) + 1
    print(
        f"LLRP reader listening on {args.host}:{sim.port}: {len(sim.field.tags)} tags "
        f"({', '.join(f'{z} {n}' for z, n in sorted(zones.items()))}) on {args.antennas} antennas, "
        f"{args.rate:g} tags/s, "
        f"{'Impinj extensions' if sim.impinj else 'standard LLRP only (generic vendor)'}",
        flush=True,
    )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_stdin() -> None:
        line = sys.stdin.readline()
        if not line:
            loop.remove_reader(sys.stdin.fileno())
            return
        words = line.split()
        try:
            if words[:1] == ["drop"]:
                sim.drop()
            elif words[:1] == ["silent"]:
                sim.go_silent()
            elif words[:1] == ["corrupt"]:
                sim.corrupt(words[1] if len(words) > 1 else "header")
            elif words[:1] in (["quit"], ["exit"]):
                stop.set()
            elif words:
                print("faults: drop | silent | corrupt [header|param|epc] | quit", file=sys.stderr)
        except ValueError as e:
            print(e, file=sys.stderr)

    with contextlib.suppress(NotImplementedError, OSError, ValueError):
        loop.add_reader(sys.stdin.fileno(), on_stdin)
    try:
        await stop.wait()
    finally:
        with contextlib.suppress(Exception):
            loop.remove_reader(sys.stdin.fileno())
        await sim.close()


def main(argv: list[str], prog: str = "shelfsync sim llrp") -> int:
    args = _parse(argv, prog)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        asyncio.run(_serve(args))
    except KeyboardInterrupt:
        pass
    except OSError as e:
        print(
            f"{prog}: cannot listen on {args.host}:{args.port}: {e.strerror or e}", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
