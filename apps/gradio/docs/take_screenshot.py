"""Screenshot of the running app as a user sees it: `uv run --with playwright python apps/gradio/docs/take_screenshot.py
[URL] [--generate]` (start `uv run apps/gradio` first; needs Debian's chromium at /usr/bin/chromium)."""

import argparse
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url", nargs="?", default="http://127.0.0.1:7860/")
    parser.add_argument("--generate", action="store_true", help="press Generate on the digits tab first")
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("screenshot.png"))
    args = parser.parse_args()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(args.url, wait_until="load")  # the page's heartbeat stream never lets the network idle
        page.wait_for_timeout(3000)
        if args.generate:
            page.locator("#digits-generate").click()
            page.locator("#digits-result img").first.wait_for(state="visible", timeout=600_000)
        page.wait_for_timeout(1000)
        page.screenshot(path=args.output, full_page=True)
        browser.close()
    print(args.output)


if __name__ == "__main__":
    main()
