"""A headless Chromium for the page's tests and scripts: Debian's chromium driven by
selenium through Debian's chromedriver, offline (the page loads only from 127.0.0.1)."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from typing import Any

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMEDRIVER = ("/usr/bin/chromedriver",)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-default-apps", "--disable-extensions", "--window-size=1400,900"]


def _first(paths: tuple[str, ...], name: str) -> str | None:
    found = [p for p in paths if shutil.which(p)]
    return found[0] if found else shutil.which(name)


def missing() -> str | None:
    """Why no browser test can run here (None: they can)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the selenium package is not installed (pip install -e '.[test]')"
    if _first(CHROMIUM, "chromium") is None:
        return "chromium is not installed (Debian: apt-get install chromium)"
    if _first(CHROMEDRIVER, "chromedriver") is None:
        return "chromedriver is not installed (Debian: apt-get install chromium-driver)"
    return None


class Browser:
    """One headless Chromium with a fresh profile; .driver is selenium's."""

    def __init__(self) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        why = missing()
        if why is not None:
            raise RuntimeError(why)
        self.profile = tempfile.mkdtemp(prefix="netlab-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = _first(CHROMIUM, "chromium") or ""
        for flag in [*FLAGS, f"--user-data-dir={self.profile}"]:
            options.add_argument(flag)
        service = Service(_first(CHROMEDRIVER, "chromedriver"))
        self.driver = webdriver.Chrome(service=service, options=options)

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def until(self, what: Callable[[], Any], timeout: float = 10.0, step: float = 0.05) -> Any:
        """what()'s first true value within `timeout` seconds (AssertionError if none)."""
        end = time.monotonic() + timeout
        while True:
            value = what()
            if value:
                return value
            if time.monotonic() > end:
                raise AssertionError(f"still false after {timeout} s: {what}")
            time.sleep(step)

    def open(self, url: str, lab: str, timeout: float = 30.0) -> dict[str, Any]:
        """Load the page on `lab` and wait for its layout; window.netlabView."""
        self.driver.get(f"{url}?lab={lab}")
        return self.until(lambda: self.js(
            "const v = window.netlabView; return v && v.ready && v.lab === arguments[0]"
            " && v.updates > 0 ? v : null", lab), timeout)  # type: ignore[no-any-return]

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)
