"""`shelfsync bench NAME`: run tests/benchmarks/bench_NAME.py from this checkout."""

from __future__ import annotations

import argparse
import importlib.util
import sys

from shelfsync.cli import repo_root


def _available() -> list[str]:
    folder = repo_root() / "tests" / "benchmarks"
    return sorted(p.stem.removeprefix("bench_") for p in folder.glob("bench_*.py"))


def main(argv: list[str], prog: str = "shelfsync bench") -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run one benchmark; it prints medians of several rounds (or JSON with --json).",
        epilog="example: shelfsync bench e2e --json\navailable: " + ", ".join(_available()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", help="benchmark name, e.g. e2e")
    if argv and not argv[0].startswith("-"):  # `bench NAME --help` is the benchmark's own help
        args, rest = parser.parse_args(argv[:1]), argv[1:]
    else:
        args, rest = parser.parse_known_args(argv)
    path = repo_root() / "tests" / "benchmarks" / f"bench_{args.name}.py"
    if not path.exists():
        print(f"{prog}: no benchmark {args.name!r}; available: {', '.join(_available()) or 'none'}",
              file=sys.stderr)
        return 2
    root = str(repo_root())
    if root not in sys.path:  # benchmarks share helpers with the tests of this checkout
        sys.path.insert(0, root)
    spec = importlib.util.spec_from_file_location(f"bench_{args.name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as `import` does: dataclasses look the module up while building
    spec.loader.exec_module(module)
    return int(module.main(rest, prog=f"{prog} {args.name}") or 0)
