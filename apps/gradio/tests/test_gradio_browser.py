"""A real browser: headless Debian Chromium driven by Playwright loads the page, generates digits, sees the images,
paints an inpainting mask, loads a prompt list file and generates its lines."""

import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

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
        # not "networkidle": the page keeps a heartbeat stream open (gradio's unload, which stops a closed tab's run)
        page.goto(app_url, wait_until="load")
        page.locator("#digits-generate").wait_for(state="attached", timeout=30_000)
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


def test_a_loaded_prompt_list_file_generates_its_lines(page, tmp_path):
    lines = ['{"prompt": "a red fox", "steps": 1, "width": 256, "height": 256}',
             '{"prompt": "a lighthouse", "seed": 9, "steps": 1, "width": 256, "height": 320}']  # fmt: skip
    (tmp_path / "prompts.jsonl").write_text("\n".join(lines) + "\n")
    tab = page.locator("#txt2img-tab")
    page.get_by_role("tab", name="Text to image").click()
    tab.get_by_text("Prompt list (instead of the prompt)").click()
    tab.locator("input[type=file]").set_input_files(tmp_path / "prompts.jsonl")
    sync_api.expect(tab.get_by_role("textbox", name="Prompt list")).to_have_value("\n".join(lines) + "\n",
                                                                              timeout=30_000)  # fmt: skip
    page.locator("#txt2img-generate").click()
    params = page.locator("#txt2img-params")
    params.get_by_text("a lighthouse", exact=False).first.wait_for(timeout=60_000)
    sync_api.expect(page.locator("#txt2img-result img")).to_have_count(2, timeout=30_000)


def test_strokes_painted_in_the_mask_editor_repaint_that_part(page, tmp_path):
    """The input image appears in the mask editor; white strokes over its right part become the run's mask."""
    from gradio.utils import get_upload_folder

    blocks = np.random.default_rng(0).integers(0, 256, (8, 16, 3), dtype=np.uint8)
    Image.fromarray(blocks.repeat(8, axis=0).repeat(8, axis=1)).save(tmp_path / "input.png")  # 128 x 64
    tab = page.locator("#img2img-tab")
    page.get_by_role("tab", name="Image to image").click()
    page.locator("#img2img-image input[type=file]").set_input_files(tmp_path / "input.png")
    tab.get_by_text("Inpainting mask (optional)").click()
    editor = page.locator("#img2img-mask")
    editor.get_by_role("button", name="Brush").first.click()
    box = editor.locator("canvas").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.85, box["y"] + box["height"] * 0.3)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.9, box["y"] + box["height"] * 0.7, steps=10)
    page.mouse.up()
    tab.get_by_text("Sampler", exact=True).first.click()
    tab.get_by_label("number input for Steps").fill("2")
    tab.get_by_label("number input for Steps").press("Enter")
    page.locator("#img2img-generate").click()
    page.locator("#img2img-result img").first.wait_for(state="visible", timeout=60_000)
    (name,) = re.findall(r"mask-[0-9a-f]{12}\.png", page.locator("#img2img-params").inner_text())
    painted = np.asarray(Image.open(Path(get_upload_folder()) / "masks" / name)) == 255
    assert painted.shape == (64, 128) and painted.any() and not painted[:, :64].any()
