"""deploy/mosquitto/add-store.sh: store ids that could escape their ACL level are refused, and
re-running it rotates a store's password (the old one stops working after a broker reload)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .broker import MOSQUITTO_DIR, Broker, Pki, make_pki, running_broker
from .mqtt_probe import Probe

ADD_STORE = MOSQUITTO_DIR / "add-store.sh"


def add_store(*args: str | Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ADD_STORE), *map(str, args)], input=stdin, capture_output=True, text=True,
        timeout=30, check=False,
    )


# "cloud…": a store's client id is its id, and cloud workers' client ids are cloud-<worker>.
@pytest.mark.parametrize("store", ["cloud", "cloud-1", "cloud-shelfsync-cloud-0", "cloudy",
                                   "sh/0001", "sh-+", "sh-#", "SH-1", "", "x" * 33])
def test_add_store_refuses_ids_that_break_the_acl(store: str, tmp_path: Path) -> None:
    done = add_store("--dir", tmp_path, "--out", tmp_path / "out", store, stdin="pw")
    assert done.returncode == 2
    assert not (tmp_path / "passwd").exists()


def test_add_store_without_a_fleet_ca_says_so(tmp_path: Path) -> None:
    done = add_store("--cert", "--dir", tmp_path, "--out", tmp_path / "out", "sh-1")
    assert done.returncode == 2
    assert "no fleet CA" in done.stderr


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Broker]:
    if shutil.which("mosquitto_passwd") is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    pki: Pki = make_pki(tmp_path / "pki", stores=("sh-a",))
    (tmp_path / "broker").mkdir()
    with running_broker(pki, tmp_path / "broker") as broker:
        yield broker


def test_rerunning_add_store_rotates_the_password_after_a_reload(own_broker: Broker) -> None:
    pki = own_broker.pki
    done = add_store("--dir", pki.dir, "--out", pki.dir / "out", "sh-a", stdin="new-password")
    assert done.returncode == 0, done.stderr
    assert (pki.dir / "passwd").read_text().count("sh-a:") == 1
    own_broker.reload()
    old = Probe("sh-a-gw-1", ca=pki.ca, username="sh-a", password=pki.stores["sh-a"].password)
    with old:
        assert old.connect(own_broker.password_port).is_failure
    new = Probe("sh-a-gw-1", ca=pki.ca, username="sh-a", password="new-password")
    with new:
        assert new.connect(own_broker.password_port) == 0
