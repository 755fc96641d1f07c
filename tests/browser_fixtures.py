"""A real headless browser for the review page: Debian's chromium driven by Selenium.

Neither Selenium nor anything else may download a browser or driver: both are the system's
(``apt-get install chromium chromium-driver``, what ``.ci/run`` does), and Selenium Manager is
told to stay offline.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import Any

BROWSER_NAMES = ("chromium", "chromium-browser")
DRIVER_NAME = "chromedriver"


def _browser() -> str | None:
    return next(filter(None, map(shutil.which, BROWSER_NAMES)), None)


def missing_browser_reason() -> str | None:
    """Why no headless browser can run here, or None when one can."""
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (pip install -e '.[test]')"
    if _browser() is None or shutil.which(DRIVER_NAME) is None:
        return (
            "no system chromium and chromedriver (apt-get install -y chromium chromium-driver, "
            "as .ci/run does)"
        )
    return None


def headless_chromium(download_dir: Path, *, width: int = 1400, height: int = 1000) -> Any:
    """A Selenium driver for the system chromium that saves downloads into ``download_dir``."""
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager: never fetch a browser or driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = _browser()
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--window-size={width},{height}",
    ):
        options.add_argument(argument)
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(download_dir), "download.prompt_for_download": False},
    )
    driver = webdriver.Chrome(options=options, service=Service(shutil.which(DRIVER_NAME)))
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(download_dir)}
    )
    return driver
