"""Every section and key of store.toml is checked: a misspelt name is an error that suggests the
closest valid one, a missing required section is an error, and `shelfsync gateway --check-config`
checks a file without starting anything (issue 14, item 5)."""

from __future__ import annotations

import re
import subprocess
import time
import tomllib
from pathlib import Path

import pytest

from edge.config import ConfigError, load_config
from edge.store_check import check_store_config
from firmware_sim import procs

REPO = Path(__file__).resolve().parents[2]
SKU = "06923450000106"

# One store.toml with every key the gateway reads, each section as documented in its module.
EVERY_KEY = f"""
[store]
id = "sh-0042"
gateway = "gw-1"
data_dir = "var"

[mqtt]
url = "mqtt://sh-0042:pw@127.0.0.1:1883"
keepalive = 30
status_interval = 30

[http]
listen = "0.0.0.0:8081"
token = "a-long-pos-token"
token_env = "SHELFSYNC_POS_TOKEN"

[outbox]
batch_max = 500
sent_retention_days = 7

[rfid]
skus = ["{SKU}"]
quiet_s = 5.0
presence = true

[[rfid.reader]]
name = "door"
host = "192.168.1.40"
port = 5084
zones = {{1 = "floor", 2 = "floor", 3 = "backroom", 4 = "exit"}}
keepalive_s = 10.0

[shelf]
poll_hz = 10

[shelf.detector]
window_s = 1.0
stable_std_g = 5.0
settle_s = 0.5
track_g = 8.0
track_alpha = 0.05
min_delta_g = 20.0
tolerance = 0.2
use_module_stable = true
min_samples = 4

[shelf.maps.acme-100]
gross   = {{ address = 8,  type = "int32", word_order = "big", scale = 0.1 }}
net     = {{ address = 10, type = "int32", word_order = "big", scale = 0.1 }}
status  = {{ address = 6,  stable_bit = 11, gross_negative_bit = 9, net_negative_bit = 8 }}
command = {{ address = 5,  zero = 1, tare = 2 }}
max_registers = 32

[[shelf.bus]]
id = "bus-1"
tcp = "192.168.1.50:502"
map = "dini-dgt4x"
poll_hz = 10
timeout_s = 0.3
unavailable_after = 3
connections = 1

[[shelf.bus]]
id = "bus-2"
serial = "/dev/ttyUSB0"
baudrate = 19200
parity = "N"
stopbits = 1
map = "acme-100"

[[shelf.bin]]
id = "A1-2"
bus = "bus-1"
device_id = 3
sku = "{SKU}"
unit_g = 85.0
tare_g = 1203.5
map = "laumas-tlu"

[camera]
model = "{REPO / 'models' / 'shelf_counter'}"

[[camera.feed]]
id = "cam-a1"
url = "http://10.0.0.21:8081/frame.jpg"
interval_s = 1.0
frozen_after_s = 10.0
black_level = 12.0
timeout_s = 5.0
model = "{REPO / 'models' / 'shelf_counter'}"

[[camera.lane]]
feed = "cam-a1"
id = "A1-1"
bin = "A1-1"
sku = "{SKU}"
facings = 2
roi = [10, 10, 100, 40]

[[camera.lane]]
feed = "cam-a1"
id = "A1-3"
slots = 3
quad = [[0, 0], [50, 0], [50, 20], [0, 20]]

[alerts]
db = "alerts.sqlite3"
timezone = "Asia/Shanghai"
staff = ["ntfy://ntfy.example/store-0042"]
manager = ["wecombot://KEY"]
escalate_after_s = 900
quiet_hours = ["22:00", "07:00"]
rate_per_hour = 30
refill_clear_margin = 1
expiry_default_days = 90
retry_s = 5.0
tick_s = 1.0
staff_networks = ["192.168.1.0/24"]

[alerts.expiry_days]
treats = 30

[alerts.bins.A1-2]
product = "Royal Canin Indoor 2 kg"
refill_at = 2

[reconcile]
window_s = 1500
tick_s = 10
exit_grace_s = 60
"""


def write(tmp_path: Path, text: str, name: str = "store.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def test_a_config_with_every_documented_key_is_accepted(tmp_path: Path) -> None:
    checked = check_store_config(load_config(write(tmp_path, EVERY_KEY)))
    assert checked.shelf is not None and len(checked.shelf.buses) == 2
    assert [c.id for c in checked.cameras] == ["cam-a1"]
    assert checked.rfid is not None and checked.rfid.presence
    assert checked.alerts is not None and checked.reconcile == (1500.0, 10.0, 60.0)


@pytest.mark.parametrize(("old", "new", "message"), [
    # the cases
    ('listen = "0.0.0.0:8081"', 'listne = "0.0.0.0:8081"', '[http] unknown key "listne" — did you mean "listen"?'),
    ('staff = ["ntfy', 'staf = ["ntfy', '[alerts] unknown key "staf" — did you mean "staff"?'),
    ("presence = true", "presense = true", '[rfid] unknown key "presense" — did you mean "presence"?'),
    ("[[camera.feed]]", "[[camera.feeds]]", '[camera] unknown key "feeds" — did you mean "feed"?'),
    ("[alerts]\n", "[alert]\n", "unknown section [alert] — did you mean [alerts]?"),
    # every other table
    ('id = "sh-0042"', 'ids = "sh-0042"', '[store] unknown key "ids" — did you mean "id"?'),
    ("keepalive = 30", "keep_alive = 30", '[mqtt] unknown key "keep_alive" — did you mean "keepalive"?'),
    ("batch_max = 500", "max_batch = 500", '[outbox] unknown key "max_batch"'),
    ('host = "192.168.1.40"', 'hots = "192.168.1.40"', 'unknown key "hots" — did you mean "host"?'),
    ("poll_hz = 10\n\n[shelf.detector]", "pollhz = 10\n\n[shelf.detector]", '[shelf] unknown key "pollhz" — did you mean "poll_hz"?'),
    ("settle_s = 0.5", "settle = 0.5", 'unknown key "settle" — did you mean "settle_s"?'),
    ('tcp = "192.168.1.50:502"', 'tcp = "192.168.1.50:502"\ntimeout = 0.3', 'unknown key "timeout" — did you mean "timeout_s"?'),
    ("tare_g = 1203.5", "tara_g = 1203.5", 'unknown key "tara_g" — did you mean "tare_g"?'),
    ("max_registers = 32", "max_register = 32", 'unknown key "max_register" — did you mean "max_registers"?'),
    ('scale = 0.1 }\nnet', 'scael = 0.1 }\nnet', 'unknown key "scael" — did you mean "scale"?'),
    ("black_level = 12.0", "blacklevel = 12.0", 'unknown key "blacklevel" — did you mean "black_level"?'),
    ("facings = 2", "facing = 2", 'unknown key "facing" — did you mean "facings"?'),
    ("refill_at = 2", "refil_at = 2", 'unknown key "refil_at" — did you mean "refill_at"?'),
    ("window_s = 1500", "windows_s = 1500", '[reconcile] unknown key "windows_s" — did you mean "window_s"?'),
])
def test_an_unknown_name_is_an_error_that_suggests_the_closest(tmp_path: Path, old: str, new: str,
                                                               message: str) -> None:
    path = write(tmp_path, edit(EVERY_KEY, old, new))
    with pytest.raises(ConfigError) as e:
        check_store_config(load_config(path))
    assert str(e.value).startswith(f"{path}: "), str(e.value)
    assert message in str(e.value)


@pytest.mark.parametrize("section", ["store", "mqtt", "http"])
def test_a_missing_required_section_is_an_error(tmp_path: Path, section: str) -> None:
    text = "".join(part for part in _sections(EVERY_KEY) if not part.startswith(f"[{section}]\n"))
    assert section in tomllib.loads(EVERY_KEY) and section not in tomllib.loads(text)
    with pytest.raises(ConfigError, match=re.escape(f"missing required section [{section}]")):
        load_config(write(tmp_path, text))


def test_mqtt_without_a_url_is_an_error_not_a_local_broker(tmp_path: Path) -> None:
    text = edit(EVERY_KEY, 'url = "mqtt://sh-0042:pw@127.0.0.1:1883"\n', "")
    with pytest.raises(ConfigError, match=re.escape('[mqtt] missing required key "url"')):
        load_config(write(tmp_path, text))


def test_a_key_at_the_top_level_names_the_section_it_belongs_in(tmp_path: Path) -> None:
    text = 'listen = "0.0.0.0:8081"\n' + EVERY_KEY
    with pytest.raises(ConfigError, match=re.escape('unknown key "listen" at the top level')):
        load_config(write(tmp_path, text))


def _sections(text: str) -> list[str]:
    """The document split before each top-level table header (sub-tables stay with their parent)."""
    parts = re.split(r"(?m)^(?=\[(?:store|mqtt|http|outbox|rfid|shelf|camera|alerts|reconcile)\]\n)", text)
    return [p for p in parts if p.strip()]


def test_readme_examples_are_accepted(tmp_path: Path) -> None:
    """Every store.toml fragment the README shows (```toml blocks of the gateway) passes the check."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", readme, flags=re.S)
    store_blocks = [b for b in blocks if "[channel." not in b]
    assert any("[store]" in b for b in store_blocks) and any("[alerts]" in b for b in store_blocks)
    base = next(b for b in store_blocks if "[store]" in b)
    base = base.replace('token_env = "SHELFSYNC_POS_TOKEN"', 'token = "a-long-pos-token"')
    for block in store_blocks:
        text = base if "[store]" in block else base + "\n" + block
        check_store_config(load_config(write(tmp_path, text)))


def test_simulator_sections_are_accepted(tmp_path: Path) -> None:
    """What `sim shelf|camera --print-config` and `sim store` write for a gateway passes the check."""
    from firmware_sim.camera import CameraSim
    from firmware_sim.camera import print_config as camera_config
    from firmware_sim.store_sim import reconcile_section, rfid_section
    from firmware_sim.weight_shelf import ShelfSim
    from firmware_sim.weight_shelf import print_config as shelf_config
    from firmware_sim.world import StoreWorld

    world = StoreWorld(store="sh-0042", seed=3)
    sim = ShelfSim("dini-dgt4x", seed=1)
    sim.add_bin("A1-1", SKU, 400.0, 5)
    camera = CameraSim(lanes=4, seed=3)
    lanes, conditions, frame_seed, _ = camera.plan()
    camera.last = camera.render(lanes, conditions, frame_seed)  # as CameraServer does per frame
    sections = [shelf_config(sim, "127.0.0.1:5020", rtu=False) + "\n[shelf.detector]\nmin_delta_g = 20\n",
                camera_config(camera, "http://127.0.0.1:8090"), reconcile_section(120),
                rfid_section(world, "127.0.0.1", 5084, 4, door=4)]
    base = EVERY_KEY.split("[outbox]")[0]
    check_store_config(load_config(write(tmp_path, base + "\n".join(sections))))


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(procs.shelfsync(*args), capture_output=True, text=True, timeout=120, cwd=cwd)


def test_check_config_checks_a_good_file_without_starting_and_describes_it(tmp_path: Path) -> None:
    path = write(tmp_path, EVERY_KEY)
    done = run("gateway", "--check-config", str(path))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"{path}: ok" in out
    assert "store sh-0042, gateway gw-1" in out
    assert "shelf: 2 buses, 1 bin (bus-1 tcp 192.168.1.50:502, bus-2 serial /dev/ttyUSB0)" in out
    assert "camera: cam-a1 (2 lanes)" in out
    assert "rfid: 1 reader (door 192.168.1.40:5084), presence on, door antenna" in out
    assert "alerts: staff → ntfy://ntfy.example/store-0042; manager → wecombot://K...Y/; 1 bin rule" in out
    assert "reconcile: window 1500 s, tick 10 s, exit grace 60 s" in out
    assert "KEY" not in out.replace("wecombot://K...Y/", "")  # apprise's own privacy mode
    assert not (tmp_path / "var").exists()  # nothing was opened or created


def test_check_config_refuses_a_bad_file_with_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, edit(EVERY_KEY, 'listen = "0.0.0.0:8081"', 'listne = "0.0.0.0:8081"'))
    done = run("gateway", "--check-config", str(path))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f'shelfsync gateway: {path}: [http] unknown key "listne" — did you mean "listen"?']
    assert done.stdout == ""


def test_the_gateway_logs_the_devices_alert_routes_and_reconciler_it_found(tmp_path: Path, broker) -> None:
    import signal

    from tests.support.services import free_port

    port = free_port()
    text = procs.gateway_config(tmp_path, "sh-0042", broker.url, "a-long-pos-token", port).read_text() + f"""
[[shelf.bus]]
id = "bus-1"
tcp = "127.0.0.1:{free_port()}"
map = "dini-dgt4x"

[[shelf.bin]]
id = "A1-2"
bus = "bus-1"
device_id = 3
sku = "{SKU}"
unit_g = 85.0

[alerts]
staff = ["json://127.0.0.1:{free_port()}/staff"]

[alerts.bins.A1-2]
product = "Kibble"
refill_at = 2

[reconcile]
window_s = 600
"""
    path = write(tmp_path, text)
    # The log goes to a file, not a pipe: a pipe nobody reads any more fills, and a gateway blocked
    # writing its log cannot act on SIGTERM.
    log_path = tmp_path / "gateway.log"
    with log_path.open("w") as sink, subprocess.Popen(
            procs.shelfsync("gateway", "--config", str(path), "--log-level", "INFO"), stderr=sink) as proc:
        try:
            deadline = time.monotonic() + 60
            while "gateway sh-0042/gw-1: POS webhook on" not in log_path.read_text() \
                    and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)  # the log is a file: read it again until the line is there
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    log = log_path.read_text()
    assert "gateway sh-0042/gw-1: POS webhook on" in log, log
    assert "shelf: 1 bus, 1 bin (bus-1 tcp 127.0.0.1:" in log
    assert "alerts: staff → json://127.0.0.1:" in log and "manager → none" in log and "1 bin rule" in log
    assert "reconcile: window 600 s, tick 10 s, exit grace 60 s" in log
    assert "camera: none" in log and "rfid: none" in log
