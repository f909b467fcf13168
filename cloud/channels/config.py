"""Channel credentials: which platform each channel is on and how to reach it.

Read once from a TOML file (`shelfsync cloud --channels FILE`) and/or the environment into frozen
values. Any field of a channel can come from `SHELFSYNC_CHANNEL_<NAME>_<FIELD>` (name upper-cased,
`-` → `_`), which is how secrets are meant to arrive in production:

    [channel.taobao]            # the channel's name, as in the channels table
    platform = "taobao"         # taobao | jd | pdd | douyin | shopify | wechat
    url = "https://gw.api.taobao.com/router/rest"
    app_key = "12345678"
    rate = 40                   # requests/s the platform allows this app
    # secret and session from SHELFSYNC_CHANNEL_TAOBAO_SECRET / _SESSION

Secrets are `Secret` values: their repr and str are masked, so logging a config, an adapter or an
exception never prints them.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.toml_tables import check_keys, check_sections

PLATFORMS = ("taobao", "jd", "pdd", "douyin", "shopify", "wechat")
DEFAULT_RATE = {"taobao": 40.0, "jd": 40.0, "pdd": 40.0, "douyin": 40.0, "shopify": 20.0, "wechat": 100.0}
_FIELDS = ("platform", "url", "app_key", "secret", "session", "rate", "timeout", "location_id", "store_id")


class ConfigError(ValueError):
    """The channels file or environment is wrong; the message says where."""


@dataclass(frozen=True, slots=True)
class Secret:
    """A credential that never shows itself in logs, reprs or tracebacks."""

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "Secret('***')" if self.value else "Secret('')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self.value)


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    name: str
    platform: str
    url: str
    app_key: str = ""
    secret: Secret = Secret("")
    session: Secret = Secret("")  # TOP session / JOS, PDD, Douyin access token / Shopify token
    rate: float = 10.0
    timeout: float = 5.0
    location_id: str = ""  # Shopify location
    store_id: str = ""  # JD storeId / Douyin out_warehouse_id


def _env_name(channel: str, fld: str) -> str:
    return f"SHELFSYNC_CHANNEL_{channel.upper().replace('-', '_')}_{fld.upper()}"


def parse(doc: Mapping[str, Any], env: Mapping[str, str] | None = None) -> dict[str, ChannelConfig]:
    """The `[channel.NAME]` tables of a parsed TOML document, with environment overrides."""
    env = os.environ if env is None else env
    check_sections(doc, ("channel",), error=ConfigError)  # a misspelt [channels.x] is no silent no-op
    tables = doc.get("channel", {})
    if not isinstance(tables, dict):
        raise ConfigError("[channel] must be a table of [channel.NAME] tables")
    out: dict[str, ChannelConfig] = {}
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise ConfigError(f"[channel.{name}] must be a table")
        check_keys(table, _FIELDS, f"[channel.{name}]", error=ConfigError)
        values: dict[str, Any] = dict(table)
        for fld in _FIELDS:
            if _env_name(name, fld) in env:
                values[fld] = env[_env_name(name, fld)]
        platform = str(values.get("platform", ""))
        if platform not in PLATFORMS:
            raise ConfigError(f"[channel.{name}]: platform must be one of {', '.join(PLATFORMS)}, "
                              f"not {platform!r}")
        if not values.get("url"):
            raise ConfigError(f"[channel.{name}]: url is required")
        if platform == "shopify":
            _check_shopify_url(name, str(values["url"]))
        try:
            rate = float(values.get("rate", DEFAULT_RATE[platform]))
            timeout = float(values.get("timeout", 5.0))
        except (TypeError, ValueError) as e:
            raise ConfigError(f"[channel.{name}]: rate and timeout are numbers ({e})") from None
        if rate <= 0 or timeout <= 0:
            raise ConfigError(f"[channel.{name}]: rate and timeout must be positive")
        out[name] = ChannelConfig(
            name=name, platform=platform, url=str(values["url"]), app_key=str(values.get("app_key", "")),
            secret=Secret(str(values.get("secret", ""))), session=Secret(str(values.get("session", ""))),
            rate=rate, timeout=timeout, location_id=str(values.get("location_id", "")),
            store_id=str(values.get("store_id", "")))
    return out


# changeFromQuantity and @idempotent, which every push uses, exist from Admin API 2026-01
# (shopify.dev/changelog/concurrency-protection-features); an older schema fails each push.
SHOPIFY_FIRST_VERSION = "2026-01"
_SHOPIFY_URL = re.compile(r"/admin/api/(\d{4}-\d{2}|unstable)/graphql\.json$")


def _check_shopify_url(name: str, url: str) -> None:
    found = _SHOPIFY_URL.search(url)
    if found is None:
        raise ConfigError(f"[channel.{name}]: a Shopify url is the shop's Admin GraphQL endpoint, "
                          f"https://SHOP.myshopify.com/admin/api/VERSION/graphql.json, not {url!r}")
    version = found.group(1)
    if version != "unstable" and version < SHOPIFY_FIRST_VERSION:
        raise ConfigError(f"[channel.{name}]: Shopify Admin API {version} has neither changeFromQuantity nor "
                          f"@idempotent, which every push uses: use {SHOPIFY_FIRST_VERSION} or later")


def load(path: Path | None, env: Mapping[str, str] | None = None) -> dict[str, ChannelConfig]:
    """Channels from a TOML file (None: no file, no channels)."""
    if path is None:
        return {}
    try:
        doc = tomllib.loads(path.read_text())
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: {e}") from None
    try:
        return parse(doc, env)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
