"""The installable parts (pyproject.toml extras: edge, camera, cloud, sim, train, test) and what
`shelfsync` says when a command's part is not installed (shelfsync/parts.py).

The static checks read pyproject.toml with tomllib and install nothing. The base-only run is a
fresh interpreter without site-packages (`python -S`) that sees only this checkout's packages,
`packaging` (the one base requirement) and the metadata pip wrote for this install: what a
`pip install shelfsync` without extras leaves.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import packaging
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from firmware_sim import procs
from shelfsync import parts
from shelfsync.cli import COMMANDS, PARTS
from tests.support.services import mosquitto

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
EXTRAS: dict[str, list[str]] = PROJECT["optional-dependencies"]
# What the issue names as the store's hardware stack, and serial ports with it.
DEVICE_LIBRARIES = {"sllurp", "onnxruntime", "opencv-python", "opencv-python-headless", "pymodbus", "pyserial"}


def names(extra: str, seen: frozenset[str] = frozenset()) -> set[str]:
    """The distributions an extra installs by its own lists, self-references (shelfsync[x]) followed."""
    out: set[str] = set()
    for text in EXTRAS[extra]:
        req = Requirement(text)
        if canonicalize_name(req.name) == "shelfsync":
            for inner in req.extras - seen:
                out |= names(inner, seen | {extra})
        else:
            out.add(canonicalize_name(req.name))
    return out


def test_the_cloud_part_installs_no_device_library() -> None:
    assert not names("cloud") & DEVICE_LIBRARIES
    base = {canonicalize_name(Requirement(r).name) for r in PROJECT["dependencies"]}
    assert not base & DEVICE_LIBRARIES, "the base install goes into the cloud's image too"


def test_the_cloud_image_installs_the_cloud_part() -> None:
    dockerfile = (ROOT / "deploy" / "compose" / "Dockerfile").read_text()
    assert "ARG SHELFSYNC_EXTRAS=cloud\n" in dockerfile
    assert 'pip install --no-cache-dir ".[${SHELFSYNC_EXTRAS}]"' in dockerfile
    assert not {"sllurp", "onnxruntime", "opencv"} & set(re.findall(r"[a-z]+", dockerfile.lower()))


def test_the_gateway_part_leaves_the_camera_part_to_its_own_extra() -> None:
    """A 32-bit Pi OS installs [edge] alone (deploy/pi/install.sh): nothing there without a build."""
    assert not names("edge") & {"onnxruntime", "opencv-python-headless", "numpy"}
    assert {"onnxruntime", "opencv-python-headless", "numpy"} <= names("camera")


def test_the_test_part_installs_every_part_and_every_command_names_a_real_part() -> None:
    assert names("edge") | names("camera") | names("cloud") | names("sim") <= names("test")
    assert {p for needed in PARTS.values() for p in needed} <= set(EXTRAS)
    assert {words[0] for words in COMMANDS} - {"check-install"} == set(PARTS)


REQUIRES = [
    "packaging>=23",
    'aiohttp<4,>=3.9; extra == "edge"',
    'pymodbus==3.16.*; extra == "edge"',
    'onnxruntime>=1.17; extra == "camera"',
    'sqlalchemy[asyncio]<3,>=2.0; extra == "cloud"',
    'aiohttp<4,>=3.9; extra == "cloud"',
    'shelfsync[cloud,edge]; extra == "test"',
    'pytest>=8; extra == "test"',
    'pywin32>=300; sys_platform == "win32" and extra == "edge"',
    'tomli>=2; python_version < "3.11"',
]


def test_a_part_is_missing_when_any_of_its_requirements_is_not_installed() -> None:
    installed = {"packaging", "aiohttp", "sqlalchemy", "pytest"}.__contains__
    assert parts.missing(["cloud"], REQUIRES, installed) == []
    assert parts.missing(["edge", "cloud"], REQUIRES, installed) == ["edge"]  # no pymodbus
    assert parts.missing(["test"], REQUIRES, installed) == ["test"]  # through shelfsync[edge]
    assert parts.missing(["camera", "sim"], REQUIRES, installed) == ["camera"]  # sim: nothing listed


def test_a_requirement_for_another_platform_or_of_the_base_install_is_no_part_of_an_extra() -> None:
    req = {r.name for r in parts.requirements(REQUIRES, "edge")}
    assert req == {"aiohttp", "pymodbus"}  # not pywin32 (Windows only), not packaging nor tomli (base)
    assert {r.name for r in parts.requirements(REQUIRES, "test")} == {"aiohttp", "pymodbus",
                                                                       "sqlalchemy", "pytest"}


def test_the_advice_is_one_line_naming_the_parts_and_the_pip_command() -> None:
    assert (parts.advice("gateway", ["edge"])
            == "shelfsync gateway needs the edge part: pip install 'shelfsync[edge]'")
    assert (parts.advice("demo", ["edge", "camera", "cloud", "sim"])
            == "shelfsync demo needs the edge, camera, cloud and sim parts: "
               "pip install 'shelfsync[edge,camera,cloud,sim]'")


def test_this_test_install_has_every_part() -> None:
    assert parts.missing_here(["edge", "camera", "cloud", "sim", "test"]) == []


@pytest.fixture(scope="module")
def base_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory that, as the whole sys.path beside the standard library, is a base install:
    the import packages, `packaging`, and shelfsync's installed metadata (its extras listed)."""
    where = tmp_path_factory.mktemp("base-only")
    for pattern in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]:
        package = pattern.rstrip("*")  # "edge*": edge and its subpackages, as the wheel has them
        (where / package).symlink_to(ROOT / package)
    (where / "packaging").symlink_to(Path(packaging.__file__).parent)
    dist = metadata.distribution("shelfsync")
    info = where / f"shelfsync-{dist.version}.dist-info"
    info.mkdir()
    # (run from the checkout, the distribution found is the editable install's egg-info: PKG-INFO)
    (info / "METADATA").write_text(dist.read_text("METADATA") or dist.read_text("PKG-INFO") or "")
    assert any('extra == "edge"' in r for r in dist.requires or []), \
        "this install's metadata predates the extras: pip install -e '.[test]'"
    return where


def shelfsync_base(where: Path, *args: str) -> subprocess.CompletedProcess[str]:
    code = (f"import sys; sys.path[:0] = [{str(where)!r}]\n"
            "from shelfsync.cli import main\n"
            "raise SystemExit(main(sys.argv[1:]))")
    return subprocess.run([sys.executable, "-S", "-c", code, *args], capture_output=True, text=True,
                          timeout=60, check=False, cwd=where)


def test_the_base_install_has_no_part_but_the_command_starts(base_only: Path) -> None:
    probe = subprocess.run([sys.executable, "-S", "-c",
                            f"import sys; sys.path[:0] = [{str(base_only)!r}]; import aiohttp"],
                           capture_output=True, text=True, timeout=60, check=False)
    assert "No module named 'aiohttp'" in probe.stderr
    helped = shelfsync_base(base_only, "--help")
    assert helped.returncode == 0 and "gateway" in helped.stdout, helped.stderr
    version = shelfsync_base(base_only, "--version")
    assert version.returncode == 0 and version.stdout.strip() == f"shelfsync {metadata.version('shelfsync')}"
    sims = shelfsync_base(base_only, "sim", "--help")
    assert sims.returncode == 0 and "shelfsync sim llrp" in sims.stdout, sims.stderr


@pytest.mark.parametrize(("args", "line"), [
    (["gateway", "--config", "store.toml"], "shelfsync gateway needs the edge part: pip install 'shelfsync[edge]'"),
    (["cloud", "--help"], "shelfsync cloud needs the cloud part: pip install 'shelfsync[cloud]'"),
    (["sim", "llrp"], "shelfsync sim llrp needs the sim part: pip install 'shelfsync[sim]'"),
    (["camera", "count"], "shelfsync camera needs the edge and camera parts: pip install 'shelfsync[edge,camera]'"),
    (["demo"], "shelfsync demo needs the edge, camera, cloud and sim parts: "
               "pip install 'shelfsync[edge,camera,cloud,sim]'"),
])
def test_a_command_whose_part_is_not_installed_says_which_in_one_line(
        base_only: Path, args: list[str], line: str) -> None:
    done = shelfsync_base(base_only, *args)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", line + "\n")



# What a cloud-only install lacks: the gateway's device libraries (import names).
DEVICE_MODULES = ("sllurp", "pymodbus", "serial", "cv2", "onnxruntime", "epcpy")


def test_the_cloud_serves_with_no_device_library_importable(tmp_path: Path) -> None:
    """`shelfsync cloud` in a process where every device library fails to import, as in a
    `shelfsync[cloud]` install: it migrates a SQLite ledger, subscribes to the broker and answers
    /healthz; and none of those modules was asked for."""
    asked = tmp_path / "asked.txt"
    code = ("import atexit, sys\n"
            f"blocked = {DEVICE_MODULES!r}\n"
            "asked = []\n"
            "class Refuse:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] in blocked:\n"
            "            asked.append(name)\n"
            "            raise ModuleNotFoundError(f'No module named {name!r} (a cloud-only install)', name=name)\n"
            "sys.meta_path.insert(0, Refuse())\n"
            f"atexit.register(lambda: open({str(asked)!r}, 'w').write(' '.join(asked)))\n"
            "from shelfsync.cli import main\n"
            "raise SystemExit(main(sys.argv[1:]))\n")
    port = procs.free_port()
    with mosquitto(tmp_path / "mosquitto") as broker:
        cloud = procs.Proc("cloud-only", [sys.executable, "-c", code, "cloud", "--db", f"sqlite:///{tmp_path / 'ledger.db'}",
                                          "--mqtt", broker.url, "--port", str(port)], tmp_path / "cloud.log",
                           env={"SHELFSYNC_ADMIN_TOKEN": "cloud-only-admin-token-0123456789"}).start()
        try:
            procs.wait_http(f"http://127.0.0.1:{port}/healthz", cloud, timeout=60)
        finally:
            cloud.stop()
    assert asked.read_text() == "", f"the cloud imported device libraries: {asked.read_text()}"
