"""Channel credentials from TOML and the environment; secrets never reach logs."""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

import pytest

from cloud.channels.base import Rejected
from cloud.channels.config import ConfigError, Secret, load, parse
from cloud.channels.platforms import adapter_for
from firmware_sim import procs

TOML = """
[channel.taobao]
platform = "taobao"
url = "http://127.0.0.1:1/router/rest"
app_key = "12345678"
rate = 20

[channel.jd-flagship]
platform = "jd"
url = "http://127.0.0.1:1/routerjson"
secret = "file-secret-jd"
"""


def test_channels_come_from_toml_with_secrets_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "channels.toml"
    path.write_text(TOML)
    env = {"SHELFSYNC_CHANNEL_TAOBAO_SECRET": "env-secret-tb", "SHELFSYNC_CHANNEL_TAOBAO_SESSION": "env-sess",
           "SHELFSYNC_CHANNEL_JD_FLAGSHIP_SECRET": "env-secret-jd"}
    channels = load(path, env)
    assert set(channels) == {"taobao", "jd-flagship"}
    assert channels["taobao"].secret.value == "env-secret-tb" and channels["taobao"].rate == 20
    assert channels["jd-flagship"].secret.value == "env-secret-jd"  # the environment wins over the file
    assert channels["jd-flagship"].rate == 40.0  # the platform's default


@pytest.mark.parametrize("doc, message", [
    ({"channel": {"x": {"platform": "ebay", "url": "u"}}}, "platform must be one of"),
    ({"channel": {"x": {"platform": "jd"}}}, "url is required"),
    ({"channel": {"x": {"platform": "jd", "url": "u", "rate": "fast"}}}, "numbers"),
    ({"channel": {"x": {"platform": "jd", "url": "u", "rate": 0}}}, "positive"),
    ({"channel": {"x": {"platform": "jd", "url": "u", "secrte": "typo"}}},
     '\\[channel.x\\] unknown key "secrte" — did you mean "secret"\\?'),
])
def test_bad_channel_config_is_a_clear_error(doc: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse(doc, {})


@pytest.mark.parametrize("version", ["2024-07", "2025-10"])
def test_a_shopify_channel_on_an_admin_api_without_change_from_quantity_is_refused(version: str) -> None:
    """Every push would fail validation there: changeFromQuantity and @idempotent are in the schema
    from 2026-01 (shopify.dev/changelog/concurrency-protection-features)."""
    url = f"https://example.myshopify.com/admin/api/{version}/graphql.json"
    with pytest.raises(ConfigError, match=f"{version}.*2026-01"):
        parse({"channel": {"shop": {"platform": "shopify", "url": url}}}, {})


@pytest.mark.parametrize("version", ["2026-01", "2026-04", "2026-07", "unstable"])
def test_a_shopify_channel_on_an_admin_api_with_both_is_accepted(version: str) -> None:
    url = f"https://example.myshopify.com/admin/api/{version}/graphql.json"
    assert parse({"channel": {"shop": {"platform": "shopify", "url": url}}}, {})["shop"].url == url


def test_a_shopify_url_that_is_not_the_admin_graphql_endpoint_is_refused() -> None:
    with pytest.raises(ConfigError, match="/admin/api/"):
        parse({"channel": {"shop": {"platform": "shopify", "url": "https://example.myshopify.com/graphql"}}}, {})


def test_the_readmes_shopify_example_is_accepted() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    url = next(line.split('"')[1] for line in readme.splitlines()
               if line.startswith("url = ") and "myshopify.com" in line)
    assert parse({"channel": {"shop": {"platform": "shopify", "url": url}}}, {})


def test_a_broken_file_names_itself(tmp_path: Path) -> None:
    path = tmp_path / "channels.toml"
    path.write_text("[channel.x\n")
    with pytest.raises(ConfigError, match=r"channels\.toml"):
        load(path, {})
    with pytest.raises(ConfigError, match="No such file"):
        load(tmp_path / "missing.toml", {})


async def test_secrets_never_reach_logs_reprs_or_errors(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                         start_sim) -> None:
    sim = await start_sim("taobao")
    config = sim.config
    adapter = sim.adapter()
    log = logging.getLogger("test.secrets")
    with caplog.at_level(logging.DEBUG):
        log.info("config %s %r", config, config)
        log.info("adapter %s %r", adapter, adapter)
        log.info("secret %s %r %s", config.secret, config.secret, f"{config.session}")
        bad = sim.adapter(secret=Secret("wrong-secret-value"))
        try:
            await bad.set_stock(sim.listing(), 1, previous=None, key="k")
        except Rejected as e:
            log.exception("push failed: %s", e)
    assert caplog.records
    for secret in (config.secret.value, config.session.value, "wrong-secret-value"):
        assert secret not in caplog.text
    assert "***" in caplog.text


def test_every_platform_has_an_adapter() -> None:
    for kind in ("taobao", "jd", "pdd", "douyin", "shopify", "wechat"):
        url = "http://x/admin/api/2026-04/graphql.json" if kind == "shopify" else "http://x"
        config = parse({"channel": {kind: {"platform": kind, "url": url}}}, {})[kind]
        assert adapter_for(config).platform == kind


def test_the_cloud_refuses_to_start_with_a_bad_channels_file(tmp_path: Path) -> None:
    path = tmp_path / "channels.toml"
    path.write_text('[channel.tb]\nplatform = "ebay"\nurl = "http://x"\n')
    run = subprocess.run(procs.shelfsync("cloud", "--db", f"sqlite:///{tmp_path / 'l.db'}", "--mqtt", "none",
                                         "--channels", str(path)),
                         capture_output=True, text=True, env={**os.environ, "SHELFSYNC_ADMIN_TOKEN": "t"}, timeout=60)
    assert run.returncode == 2 and "--channels" in run.stderr and "platform must be one of" in run.stderr
