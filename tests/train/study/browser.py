"""Start a headless Chromium with selenium (shared by the browser test and docs/study_screenshot.py)."""

from __future__ import annotations

import shutil


def chromium_paths():
    """(chromium binary, chromedriver) found on PATH, or None when either is missing."""
    binary = next(
        (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None
    )
    driver = shutil.which("chromedriver")
    return (binary, driver) if binary and driver else None


def start_chromium(binary: str, driver_path: str, profile, flags):
    """A selenium Chrome driver on ``binary`` with a fresh ``--user-data-dir`` and ``flags``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in flags:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    return webdriver.Chrome(options=options, service=Service(driver_path))
