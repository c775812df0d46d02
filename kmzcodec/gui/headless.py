"""The system's Chromium, headless, as the page's tests and benchmarks drive it through Playwright.

Browsers cannot be downloaded by pip (nor by ``playwright install`` on machines without
network), so Playwright is pointed at Debian's ``chromium`` package; ``KMZ_CHROMIUM``
names another executable. The flags keep it headless and off the network (no
background requests, no updates, no sync): pages are served from 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil

#: Chromium's command-line flags for Playwright's ``launch(args=...)``.
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def executable() -> str | None:
    """The Chromium to launch: ``KMZ_CHROMIUM``, else ``chromium`` on the PATH, or None."""
    return os.environ.get("KMZ_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
