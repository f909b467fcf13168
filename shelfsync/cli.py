"""The `shelfsync` console script: one entry point, each subcommand owned by its own module.

Each subcommand is a module with `main(argv: list[str]) -> int` and its own argparse parser (so
`shelfsync sim llrp --help` is that module's help). Modules are imported only when their
subcommand runs, so a gateway never loads the cloud's dependencies and vice versa.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
from pathlib import Path

from shelfsync import parts

# subcommand words -> (module, one-line summary)
COMMANDS: dict[tuple[str, ...], tuple[str, str]] = {
    ("demo",): ("shelfsync.demo", "the whole system on one machine: broker, cloud, N simulated stores"),
    ("gateway",): ("edge.runtime", "run a store gateway from its TOML config"),
    ("cloud",): ("cloud.__main__", "run the cloud service (ledger, ingest, REST API)"),
    ("sim", "pos"): ("firmware_sim.pos", "a POS terminal posting simulated sales to a gateway"),
    ("sim", "llrp"): ("firmware_sim.llrp.cli", "an LLRP 1.0.1 RFID reader on TCP"),
    ("sim", "shelf"): ("firmware_sim.weight_shelf", "Modbus RTU/TCP weighing modules"),
    ("sim", "camera"): ("firmware_sim.camera", "a shelf camera serving JPEG/MJPEG over HTTP"),
    ("sim", "platform"): ("firmware_sim.platforms", "an e-commerce platform stock API"),
    ("sim", "store"): ("firmware_sim.store_sim", "one whole simulated store on real protocols"),
    ("stocktake",): ("edge.rfid.stocktake", "an RFID stocktake against an LLRP reader"),
    ("shelf",): ("edge.shelf.cli", "weight shelves: calibrate (tare, learn) and watch"),
    ("camera",): ("edge.camera.cli", "shelf cameras: count the lanes of one image"),
    ("bench",): ("shelfsync.bench", "run a benchmark from tests/benchmarks"),
    ("check-install",): ("edge.install_check", "does this install work here: device libraries, camera model"),
}

# first word -> the installable parts (pyproject.toml extras) it needs; checked before its import.
# check-install needs none: naming what does not load here is its job.
PARTS: dict[str, tuple[str, ...]] = {
    "demo": ("edge", "camera", "cloud", "sim"),  # the demo shops' gateways watch cameras
    "gateway": ("edge",), "stocktake": ("edge",), "shelf": ("edge",), "camera": ("edge", "camera"),
    "cloud": ("cloud",), "sim": ("sim",),
    "bench": ("test",),  # the benchmarks share the tests' helpers
}

USAGE = """usage: shelfsync COMMAND [ARGS...]

Keeps a retail chain's stock picture true. Commands:
{commands}

Every command takes --help; shelfsync --version says which release this is. Examples:
  shelfsync demo --stores 2 --minutes 1
  shelfsync cloud --db sqlite:///ledger.db --mqtt mqtt://127.0.0.1:1883 --port 8080
  shelfsync gateway --config store.toml
"""


def _usage() -> str:
    lines = [f"  {' '.join(words):<14} {summary}" for words, (_, summary) in COMMANDS.items()]
    return USAGE.format(commands="\n".join(lines))


def _sim_usage() -> str:
    lines = [f"  shelfsync sim {words[1]:<9} {summary}" for words, (_, summary) in COMMANDS.items()
             if words[0] == "sim"]
    return ("usage: shelfsync sim SIMULATOR [ARGS...]\n\nSimulators of the shop's hardware and its "
            "platforms, on the real protocols:\n" + "\n".join(lines) + "\n\nEach takes --help.")


def version() -> str:
    try:
        return importlib.metadata.version("shelfsync")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if args[0] in ("--version", "-V"):
        print(f"shelfsync {version()}")
        return 0
    if args[:1] == ["sim"] and args[1:2] in (["-h"], ["--help"], ["help"]):
        print(_sim_usage())
        return 0
    for words, (module_name, _) in sorted(COMMANDS.items(), key=lambda kv: -len(kv[0])):
        if tuple(args[: len(words)]) == words:
            if parts.missing_here(PARTS.get(words[0], ())):
                print(parts.advice(" ".join(words), PARTS[words[0]]), file=sys.stderr)
                return 2
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as e:
                if e.name and module_name.startswith(e.name):
                    print(f"shelfsync: '{' '.join(words)}' is not part of this build", file=sys.stderr)
                    return 2
                raise
            prog = "shelfsync " + " ".join(words)
            return int(module.main(args[len(words):], prog=prog) or 0)
    if args[0] == "sim":
        print(_sim_usage(), file=sys.stderr)
        return 2
    print(f"shelfsync: unknown command {args[0]!r}\n\n{_usage()}", file=sys.stderr)
    return 2


def repo_root() -> Path:
    """The checkout this package runs from (benchmarks and models live beside the code)."""
    return Path(__file__).resolve().parent.parent


if __name__ == "__main__":
    raise SystemExit(main())
