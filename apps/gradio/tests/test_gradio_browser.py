"""A real browser: headless Debian Chromium driven by Playwright loads the page, generates digits, sees the images."""

import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("SGM_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is absent (apt-get install -y chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")


@pytest.fixture
def page(app_url):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(app_url, wait_until="networkidle")
        yield page
        browser.close()


def test_browser_generates_digits_with_the_trained_model(page, recorder, real_digits, tmp_path):
    recorder.step_seconds = 0.0
    page.get_by_role("tab", name="Digits").click()
    page.locator("#digits-generate").click()
    images = page.locator("#digits-result img")
    images.first.wait_for(state="visible", timeout=60_000)
    assert images.count() >= 1
    assert page.locator("#digits-params").inner_text().count('"seed"') == 1
    page.screenshot(path=tmp_path / "digits.png")
    assert (tmp_path / "digits.png").stat().st_size > 0


def test_browser_shows_which_checkpoint_is_missing(page):
    page.get_by_role("tab", name="Text to image").click()
    page.locator("#txt2img-model input").click()
    page.get_by_role("option", name="sd-2.1-768", exact=True).click()
    status = page.locator("#txt2img-status")
    status.get_by_text("v2-1_768-ema-pruned.safetensors").wait_for(timeout=30_000)
    assert page.locator("#txt2img-generate").is_disabled()


def test_picking_a_model_shows_its_own_settings(page):
    page.get_by_role("tab", name="Text to image").click()
    page.locator("#txt2img-model input").click()
    page.get_by_role("option", name="sdxl-turbo", exact=True).click()
    tab = page.locator("#txt2img-tab")
    sync_api.expect(tab.get_by_label("number input for Width")).to_have_value("512", timeout=30_000)
    tab.get_by_text("Sampler", exact=True).first.click()  # open the accordion
    assert tab.get_by_label("number input for Steps").input_value() == "1"  # Turbo: one step, no guidance
    assert tab.get_by_label("number input for Guidance scale (1 = no guidance)").input_value() == "1"
