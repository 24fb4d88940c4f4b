"""A real headless Chromium for tests that look at a page as users will: Debian's ``chromium`` and
``chromium-driver`` packages, driven by selenium. Nothing is fetched: no driver download, no browser
updates, no network beyond the page opened."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["INSTALL_HINT", "chromium", "find_browser"]

INSTALL_HINT = (
    "needs Chromium and its driver: apt-get install -y chromium chromium-driver "
    "(and pip install selenium, in the dev extra)"
)

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)


def find_browser() -> tuple[str, str] | None:
    """(chromium, chromedriver) when both are installed and selenium imports, else None."""
    try:
        import selenium  # noqa: F401, PLC0415 - only to know it is there
    except ImportError:
        return None
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        return None
    return browser, driver


@contextmanager
def chromium(browser: str, driver: str, profile: Path) -> Iterator[Any]:
    """A headless Chromium with a fresh profile directory, quit afterwards."""
    from selenium import webdriver  # noqa: PLC0415
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    session = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    try:
        yield session
    finally:
        session.quit()
