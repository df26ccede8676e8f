"""The page in a real browser: headless Chromium (Debian's chromium and chromium-driver, which .ci/run installs) opens
`unwant serve`, uploads a scene, types the target, presses Remove, and sees the result; nothing is fetched from
anywhere but the server."""

from __future__ import annotations

import io
import json
import shutil
import urllib.request
from urllib.parse import urlparse

import numpy as np
import pytest
from PIL import Image

from conftest import SCENES

pytest.importorskip("gradio", reason="the page's tests need the [web] extra (.ci/run installs it)")
webdriver = pytest.importorskip("selenium.webdriver", reason="the browser test needs selenium (the [test] extra)")
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
pytestmark = pytest.mark.skipif(not shutil.which("chromium") or not shutil.which("chromedriver"),
                                reason="no chromium / chromium-driver here: apt-get install chromium chromium-driver (.ci/run does)")

SCENE = SCENES / "scene-01.png"
TARGET = "blue square"
CHROME_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1400,1000")


@pytest.fixture(scope="module")
def server(toy_server):
    return toy_server


@pytest.fixture
def browser():
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = shutil.which("chromium")
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})  # every request the page makes
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def requested_hosts(driver) -> set[str]:
    hosts = set()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            url = message["params"]["request"]["url"]
            if url.startswith(("http:", "https:", "ws:", "wss:")):
                hosts.add(urlparse(url).hostname)
    return hosts


def test_a_scene_is_edited_through_the_page(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server.url)
    wait = WebDriverWait(browser, 120)
    upload = wait.until(seen.presence_of_element_located((By.CSS_SELECTOR, "#photo input[type=file]")))
    upload.send_keys(str(SCENE))
    wait.until(seen.presence_of_element_located((By.CSS_SELECTOR, "#photo img")))
    browser.find_element(By.CSS_SELECTOR, "#targets textarea").send_keys(TARGET)
    browser.find_element(By.ID, "remove-button").click()
    shown = wait.until(seen.presence_of_element_located((By.CSS_SELECTOR, "#result img")))
    browser.save_screenshot(str(tmp_path / "page.png"))
    with urllib.request.urlopen(shown.get_attribute("src"), timeout=30) as response:
        result = np.asarray(Image.open(io.BytesIO(response.read())).convert("RGB"))
    photo = np.asarray(Image.open(SCENE).convert("RGB"))
    assert result.shape == photo.shape and not np.array_equal(result, photo)  # the edit is on the page
    assert (tmp_path / "page.png").stat().st_size > 10_000
    assert requested_hosts(browser) <= {"127.0.0.1", "localhost"}  # offline: no fonts, analytics or CDN
