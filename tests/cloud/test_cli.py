"""What a person sees at the command line: a user error is one line on stderr and exit 2, never a
Python traceback (issue 14, item 6); the cloud's own config files are checked like store.toml
(item 5). Every case runs the real `shelfsync` console script as a subprocess."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from firmware_sim import procs


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SHELFSYNC_")}
    return subprocess.run(procs.shelfsync(*args), capture_output=True, text=True, timeout=120, cwd=cwd,
                          env={**base, "SHELFSYNC_ADMIN_TOKEN": "admin-token-for-tests", **(env or {})})


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.mark.parametrize(("db", "says"), [
    ("sqlite:///nonexist/x.db", "nonexist does not exist (for nonexist/x.db)"),
    ("sqlite:////nonexist/x.db", "directory /nonexist does not exist"),
    ("postgres://nope", "cannot connect"),
    ("mysql://x/y", "use sqlite:///PATH or postgresql://"),
    ("ledger.db", "not a database URL"),
])
def test_a_bad_database_url_is_one_line_and_exit_2(tmp_path: Path, db: str, says: str) -> None:
    line = one_line_error(run("cloud", "--db", db, "--mqtt", "none", "--port", "0", cwd=tmp_path))
    assert line.startswith("shelfsync cloud: --db: ") and says in line, line


def test_a_bad_database_url_is_refused_by_every_cloud_command(tmp_path: Path) -> None:
    for args in (["migrate"], ["verify"], ["backup", "--file", "b.jsonl.gz"], ["token", "list"]):
        line = one_line_error(run("cloud", *args, "--db", "mysql://x/y", cwd=tmp_path))
        assert "--db: " in line and "mysql" in line, line


@pytest.mark.parametrize("command", [["gateway", "--config", "store.toml"], ["cloud", "--mqtt", "none"]])
def test_an_unknown_log_level_is_one_line_and_exit_2(tmp_path: Path, command: list[str]) -> None:
    line = one_line_error(run(*command, "--log-level", "verbose", cwd=tmp_path))
    assert "--log-level" in line and "'verbose'" in line and "debug, info, warning, error, critical" in line


@pytest.mark.parametrize("action", [["token", "list"], ["verify"], ["migrate"], ["backup", "--file", "b.gz"]])
def test_commands_on_the_ledger_need_a_database_and_create_none(tmp_path: Path, action: list[str]) -> None:
    line = one_line_error(run("cloud", *action, cwd=tmp_path))
    assert "--db" in line and "SHELFSYNC_DB" in line, line
    assert list(tmp_path.iterdir()) == []  # no ./shelfsync-ledger.db appeared


def test_token_commands_take_the_database_from_the_environment(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'ledger.db'}"
    done = run("cloud", "token", "list", cwd=tmp_path, env={"SHELFSYNC_DB": db})
    assert done.returncode == 0, done.stderr
    assert '"tokens": []' in done.stdout


@pytest.mark.parametrize(("flags", "says"), [
    (["--store", "SH 9"], "store: must match [a-z0-9-]{1,32}, got 'SH 9'"),
    (["--store", "sh-0009", "--name", "Staff 9"], "name: must match [a-z0-9-]{1,32}, got 'Staff 9'"),
])
def test_token_create_refuses_the_ids_the_api_refuses(tmp_path: Path, flags: list[str], says: str) -> None:
    args = ["--name", "staff-9", "--role", "store", *flags]
    line = one_line_error(run("cloud", "token", "create", *args, "--db", f"sqlite:///{tmp_path / 'l.db'}",
                              cwd=tmp_path))
    assert says in line, line
    assert not (tmp_path / "l.db").exists()  # refused before the database was touched


def test_version(tmp_path: Path) -> None:
    from importlib.metadata import version

    done = run("--version", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == f"shelfsync {version('shelfsync')}"


def test_sim_help_lists_the_simulators(tmp_path: Path) -> None:
    done = run("sim", "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for sim in ("pos", "llrp", "shelf", "camera", "platform", "store"):
        assert f"shelfsync sim {sim}" in done.stdout


# --- the cloud's config files (item 5) --------------------------------------------------------

CHANNELS = """
[channel.taobao]
platform = "taobao"
url = "https://gw.api.taobao.com/router/rest"
app_key = "12345678"
rate = 40
"""

ALERTS = """
dir = "alerts"
timezone = "Asia/Shanghai"
quiet_hours = ["22:00", "07:00"]
offline_grace_s = 120
escalate_after_s = 1800
expiry_default_days = 90
expiry_every_s = 3600
[expiry_days]
treats = 30
[products.09501234567891]
name = "Royal Canin Indoor 2 kg"
category = "dry-food"
[stores."*"]
hq = ["mailtos://alerts:pw@mail.example.com?to=ops@example.com"]
[stores.sh-0042]
staff = ["ntfy://ntfy.example/sh-0042"]
manager = ["wecombot://KEY"]
"""


def check(tmp_path: Path, channels: str = CHANNELS, alerts: str = ALERTS) -> subprocess.CompletedProcess[str]:
    (tmp_path / "channels.toml").write_text(channels)
    (tmp_path / "alerts.toml").write_text(alerts)
    return run("cloud", "--check-config", "--channels", "channels.toml", "--alerts", "alerts.toml",
               "--db", "postgresql://shelfsync@db.invalid/shelfsync", cwd=tmp_path)


def test_cloud_check_config_accepts_good_files_without_starting(tmp_path: Path) -> None:
    done = check(tmp_path)
    assert done.returncode == 0, done.stderr
    assert "channels.toml: ok (1 channel: taobao on taobao)" in done.stdout
    assert "alerts.toml: ok (2 store routes" in done.stdout
    assert not (tmp_path / "alerts").exists()


@pytest.mark.parametrize(("channels", "alerts", "says"), [
    (CHANNELS.replace("app_key", "appkey"), ALERTS,
     '--channels: channels.toml: [channel.taobao] unknown key "appkey" — did you mean "app_key"?'),
    ("[channels.taobao]\n", ALERTS, 'unknown section [channels] — did you mean [channel]?'),
    (CHANNELS, ALERTS.replace("offline_grace_s", "ofline_grace_s"),
     '--alerts: alerts.toml: unknown key "ofline_grace_s" at the top level — did you mean "offline_grace_s"?'),
    (CHANNELS, ALERTS.replace("[stores.sh-0042]\nstaff", "[stores.sh-0042]\nstaf"),
     '[stores.sh-0042] unknown key "staf" — did you mean "staff"?'),
    (CHANNELS, ALERTS.replace("category =", "categroy ="),
     '[products.09501234567891] unknown key "categroy" — did you mean "category"?'),
    (CHANNELS, ALERTS.replace("[expiry_days]", "[expiry_day]"),
     'unknown section [expiry_day] — did you mean [expiry_days]?'),
    (CHANNELS, ALERTS.replace("ntfy://ntfy.example", "nfty://ntfy.example"),
     '[stores.sh-0042] staff[0]: not a URL apprise can send to (unknown scheme "nfty" — did you mean "ntfy"?)'),
])
def test_cloud_check_config_refuses_a_misspelt_name(tmp_path: Path, channels: str, alerts: str,
                                                    says: str) -> None:
    line = one_line_error(check(tmp_path, channels, alerts))
    assert says in line, line
