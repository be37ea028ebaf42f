"""Measure how long a map.html takes to load in a real browser (optional).

Used when the project asks for it (``map.measure_load: true``): needs Debian's
``chromium`` (or Chrome) and the ``playwright`` package (``pip install
'riskmap[test]'``). The page reports the time from navigation start to the map
being ready (``performance.now()``), with the network off.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from riskmap.errors import ExportError

log = logging.getLogger(__name__)
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")


def measure_load(path: Path, timeout_s: float = 30) -> float:
    """Seconds from navigation to the map being ready, offline, in headless Chromium."""
    exe = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        exe = None
    if exe is None:
        raise ExportError("map.measure_load needs Chromium and the playwright package: "
                          "apt-get install chromium; pip install playwright")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=[
            "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        try:
            ctx = b.new_context(offline=True, viewport={"width": 1400, "height": 1000})
            page = ctx.new_page()
            page.goto(Path(path).resolve().as_uri())
            page.wait_for_function("window.riskmapReady === true", timeout=timeout_s * 1000)
            return page.evaluate("window.riskmapLoadMs") / 1000.0
        finally:
            b.close()
