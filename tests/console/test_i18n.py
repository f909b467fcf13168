"""The console's two languages: the catalogue is complete in both, every key a page uses exists,
the browser's language is the default, the switch is remembered, and Chinese renders in a CJK font."""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Any

import pytest

from cloud.console import i18n, web, words_replenishment, words_reports
from cloud.console.i18n import MESSAGES, Words, negotiate
from cloud.db.stocktakes import STATES
from shared.contract import ALERT_STATUSES, Kind, Source, Zone
from tests.console.conftest import PHONE, Tokens, sign_in
from tests.integration.conftest import Cloud

CONSOLE = Path(web.__file__).parent
# t('key') / t("key", n=1): a literal key (not the prefix of one made from a value: t('kind.' ~ k))
KEY = re.compile(r"""\bt\(\s*['"]([a-z0-9_.\-]+)['"]\s*[,)]""")


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_message_has_both_languages_with_the_same_fields() -> None:
    for key, (en, zh) in MESSAGES.items():
        assert en.strip() and zh.strip(), key
        assert _fields(en) == _fields(zh), key


def test_a_key_is_defined_in_one_catalogue_module_only() -> None:
    parts = [set(i18n._CORE), set(words_reports.WORDS), set(words_replenishment.WORDS)]
    assert sum(len(p) for p in parts) == len(MESSAGES)


def test_every_key_a_template_or_page_uses_is_in_the_catalogue() -> None:
    used: dict[str, str] = {}
    for path in [*CONSOLE.glob("templates/*.html"), *CONSOLE.glob("**/*.py")]:
        if path.name == "i18n.py":  # the catalogue itself (its docstring shows a made-up key)
            continue
        for key in KEY.findall(path.read_text()):
            used.setdefault(key, path.name)
    assert used, "the pattern finds the keys"
    missing = {k: where for k, where in used.items() if k not in MESSAGES}
    assert missing == {}
    # keys made from values: every value the pages can meet has its words
    families = {"kind": [k.value for k in Kind], "source": [s.value for s in Source],
                "zone": [z.value for z in Zone], "alert.status": list(ALERT_STATUSES), "st.state": list(STATES),
                "nav": [n.section for n in web.NAV], "bin": ["ok", "low", "empty", "unavailable", "uncounted"],
                "dev": ["reader", "scale-bus", "camera"], "push": ["ok", "failed", "rejected"],
                "role": ["hq", "store", "finance"]}
    for family, values in families.items():
        assert [v for v in values if f"{family}.{v}" not in MESSAGES] == [], family


@pytest.mark.parametrize(("cookie", "header", "lang"), [
    (None, None, "en"),
    (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh"),
    (None, "en-US,en;q=0.9,zh-CN;q=0.8", "en"),
    (None, "fr-FR, en;q=0.5, zh;q=0.7", "zh"),  # by q-value, not by order
    (None, "de, fr", "en"),  # neither of ours: English
    (None, "zh-TW", "zh"),  # the only Chinese we have
    (None, "zh;q=0", "en"),  # q=0 means "not this one" (RFC 9110 §12.4.2)
    ("en", "zh-CN", "en"),  # a choice made in the console wins
    ("zh", None, "zh"),
    ("klingon", "zh-CN", "zh"),  # a cookie that is not one of ours is ignored
])
def test_the_language_is_the_choice_else_the_browsers(cookie: str | None, header: str | None, lang: str) -> None:
    assert negotiate(cookie, header) == lang


def test_ages_and_durations_read_naturally() -> None:
    from datetime import UTC, datetime, timedelta
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    en, zh = Words("en"), Words("zh")
    assert en.ago(now - timedelta(seconds=2), now) == "just now"
    assert en.ago(now - timedelta(minutes=5), now) == "5 min ago"
    assert zh.ago(now - timedelta(hours=3), now) == "3 小时前"
    assert en.ago(None, now) == "never"
    assert zh.duration(90) == "90 秒"


async def test_a_chinese_browser_gets_chinese_and_the_switch_is_remembered(
        console: Cloud, tokens: Tokens, new_page: Any) -> None:
    page = await new_page(PHONE, locale="zh-CN")
    await page.goto(console.url + "/signin")
    assert await page.locator("h1").inner_text() == "登录"
    await sign_in(page, console.url, tokens.hq)
    assert await page.locator("h1").inner_text() == "连锁总览"
    assert await page.locator("html").get_attribute("lang") == "zh-CN"
    # the heading's glyphs were drawn with a CJK font (Debian's fonts-noto-cjk), not missing-glyph
    # boxes: asked of Chromium itself (DevTools protocol, CSS.getPlatformFontsForNode)
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("DOM.enable")
    await cdp.send("CSS.enable")
    root = await cdp.send("DOM.getDocument")
    h1 = await cdp.send("DOM.querySelector", {"nodeId": root["root"]["nodeId"], "selector": "h1"})
    fonts = (await cdp.send("CSS.getPlatformFontsForNode", {"nodeId": h1["nodeId"]}))["fonts"]
    assert any("CJK" in f["familyName"] and f["glyphCount"] >= 4 for f in fonts), fonts
    await page.click("a.lang")
    await page.wait_for_url(console.url + "/")
    assert await page.locator("h1").inner_text() == "Chain overview"
    await page.goto(console.url + "/stores")  # remembered by the cookie, whatever the browser says
    assert await page.locator("h1").inner_text() == "Stores"
    cookie = [c for c in await page.context.cookies() if c["name"] == "shelfsync_lang"]
    assert cookie and cookie[0]["value"] == "en"
