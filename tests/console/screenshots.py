"""The README's pictures of the console, made from the demo's world, not drawn by hand.

    bash scripts/screenshots                 # runs the demo, captures, squeezes the PNGs
    .venv/bin/python -m tests.console.screenshots --url http://127.0.0.1:PORT/ --token T
                                             # a console that is running already

It starts `shelfsync demo --store-sim --stores 3 --minutes 1 --stay` — the real system: a broker,
the cloud, each store's scales, RFID reader, camera and tills on their real protocols read by its
gateway, the six platform simulators — waits for the demo's summary, signs in with the token the
demo prints, and captures with Playwright driving Debian's chromium (`/usr/bin/chromium`; never
`playwright install`) the chain overview, a store's page at its shelf map, the best-stocked
product, the platforms (channels) page, the reports page (turnover by category over the last 30
days) and the replenishment plan, each on a phone (390×844) and a desktop (1440×900), into
docs/screenshots/NAME-phone.png and NAME-desktop.png. Each is the screen as it shows, not the
whole page. The demo's world has no replenishment run, so one is made first (POST
/v1/replenishment/runs, waited for) — only in a demo this script started, never in a console
given with --url. Then pngquant (a palette of at most 256 colours) and optipng make the files
small; both are Debian packages (apt-get install pngquant optipng).

The browser asks for reduced motion, so charts are drawn without their animation, and each
capture waits for what the page draws: its event stream open, its charts' canvases, the fonts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.async_api import ViewportSize

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1440, "height": 900}
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--hide-scrollbars"]
DEMO = ["demo", "--store-sim", "--stores", "3", "--minutes", "1", "--stay"]


@dataclass(frozen=True)
class Shot:
    name: str
    path: str
    anchor: str | None = None  # an element scrolled to the top of the screen first
    phone_anchor: str | None = None  # the same on the phone only (where a page's filters fill the screen)


def say(message: str) -> None:
    print(f"screenshots: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def running_demo(workdir: Path | None) -> Iterator[tuple[str, str]]:
    """The demo, until its summary is in; its console's address and token. Stopped (SIGINT, as
    Ctrl-C) afterwards."""
    args = [sys.executable, "-m", "shelfsync.cli", *DEMO] + (["--workdir", str(workdir)] if workdir else [])
    demo = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    lines: queue.Queue[str] = queue.Queue()
    assert demo.stderr is not None
    def pump() -> None:
        for line in demo.stderr or ():
            lines.put(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        url = token = ""
        deadline = time.monotonic() + 600
        while True:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise SystemExit("screenshots: the demo said nothing for 10 minutes") from None
            say(line.rstrip())
            found = re.search(r"the console: (http://\S+/)\s+\(sign in with the token (\S+)\)", line)
            if found:
                url, token = found.group(1), found.group(2)
            if "Ctrl-C" in line:  # the summary is in: everything keeps running from here
                break
            if demo.poll() is not None:
                raise SystemExit(f"screenshots: the demo ended (exit {demo.returncode}) before its summary")
        yield url, token
    finally:
        if demo.poll() is None:
            demo.send_signal(signal.SIGINT)
            try:
                demo.wait(60)
            except subprocess.TimeoutExpired:
                demo.kill()
                demo.wait()
        reader.join(10)
        demo.stderr.close()


def _get_json(url: str, token: str) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as r:
        return json.load(r)


def best_stocked(url: str, token: str, store: str) -> str:
    """The product with most units in the store among those with dated lots (the page shows expiry)."""
    items = _get_json(f"{url}v1/stores/{store}/stock", token)["items"]
    dated = [i for i in items if any(lot["expiry"] for lot in i["lots"])] or items
    return str(max(dated, key=lambda i: (i["on_hand"], i["sku"]))["sku"])


def plan_now(url: str, token: str) -> None:
    """A replenishment run, as head office's *Run now* makes it, until it is done."""
    request = urllib.request.Request(f"{url}v1/replenishment/runs", data=json.dumps({"wait": True}).encode(),
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=600) as r:
        run = json.load(r)
    say(f"replenishment run {run['id']}: {run['status']}")


def shots(url: str, token: str) -> list[Shot]:
    stores = sorted(g["store"] for g in _get_json(f"{url}v1/gateways", token)["gateways"])
    store = stores[0]
    return [Shot("overview", "/"), Shot("store", f"/stores/{store}", anchor="#shelves"),
            Shot("product", f"/products/{best_stocked(url, token, store)}"), Shot("platforms", "/channels"),
            Shot("reports", "/reports?report=turnover&days=30&by=category", phone_anchor="#report-crumbs"),
            Shot("replenishment", "/replenishment")]


async def capture(url: str, token: str, out: Path, lang: str) -> list[Path]:
    from playwright.async_api import async_playwright

    if not Path(CHROMIUM).exists():
        raise SystemExit("screenshots: Debian's chromium is not installed (apt-get install -y chromium)")
    out.mkdir(parents=True, exist_ok=True)
    made: list[Path] = []
    todo = shots(url, token)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            for device, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
                context = await browser.new_context(viewport=viewport, locale=lang, is_mobile=device == "phone",
                                                    has_touch=device == "phone", reduced_motion="reduce",
                                                    extra_http_headers={"Accept-Language": lang})
                page = await context.new_page()
                await page.goto(f"{url}signin?next=/")
                await page.fill("input[name=token]", token)
                await page.click("form[action='/signin'] button[type=submit]")
                await page.wait_for_url(f"{url}")
                for shot in todo:
                    await page.goto(url.rstrip("/") + shot.path)
                    await _drawn(page)
                    anchor = shot.phone_anchor if device == "phone" and shot.phone_anchor else shot.anchor
                    if anchor:
                        await page.locator(anchor).evaluate("e => e.scrollIntoView({block: 'start'})")
                    path = out / f"{shot.name}-{device}.png"
                    await page.screenshot(path=str(path), animations="disabled", caret="hide")
                    made.append(path)
                    say(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
                await context.close()
        finally:
            await browser.close()
    return made


async def _drawn(page: Any) -> None:
    """Until the page has drawn what it draws: its event stream open, every chart's canvas, fonts."""
    if await page.locator("[sse-connect]").count():
        await page.wait_for_selector("#live[data-state=open]", timeout=15_000)
    charts = page.locator("[data-chart]")
    for i in range(await charts.count()):
        await charts.nth(i).locator("canvas").wait_for(timeout=15_000)
    await page.evaluate("document.fonts.ready.then(() => true)")


def squeeze(paths: list[Path]) -> None:
    """pngquant (lossy: at most 256 colours, quality 70-95) then optipng (lossless)."""
    missing = [tool for tool in ("pngquant", "optipng") if shutil.which(tool) is None]
    if missing:
        raise SystemExit(f"screenshots: {' and '.join(missing)} not installed: apt-get install -y pngquant optipng")
    for path in paths:
        subprocess.run(["pngquant", "--force", "--skip-if-larger", "--strip", "--quality", "70-95", "--output",
                        str(path), str(path)], check=False)  # exit 98/99: kept as it was
        subprocess.run(["optipng", "-quiet", "-o2", "-strip", "all", str(path)], check=True)
    say(", ".join(f"{p.name} {p.stat().st_size // 1024} kB" for p in paths))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.console.screenshots", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--url", help="a console that runs already (its address, ending in /)")
    parser.add_argument("--token", help="with --url: a head-office token")
    parser.add_argument("--lang", default="en-US", help="the browser's language (zh-CN: the console in Chinese)")
    parser.add_argument("--workdir", type=Path, help="keep the demo's logs and databases here")
    args = parser.parse_args(argv)
    if bool(args.url) != bool(args.token):
        parser.error("--url and --token go together")
    if args.url:
        made = asyncio.run(capture(args.url.rstrip("/") + "/", args.token, args.out, args.lang))
    else:
        with running_demo(args.workdir) as (url, token):
            plan_now(url, token)  # the demo's own world: a plan to show
            made = asyncio.run(capture(url, token, args.out, args.lang))
    squeeze(made)
    return 0


if __name__ == "__main__":
    sys.exit(main())
