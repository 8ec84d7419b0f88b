"""Write docs/screenshots/: the main pages on the demo portfolio, desktop and phone, in both languages.

Run: .venv/bin/python -m tests.browser.make_screenshots
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from delivery import clock
from delivery.demo import load_demo
from tests.browser.server import launch_options, serve

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, serve(Path(tmp) / "demo.sqlite3") as site:
        load_demo(site.services.app)
        site.services.reads.catch_up()
        rows = {r.name: r for r in site.services.reads.portfolio_all(now=clock.now())}
        # The multi-store chain: a release that was paused and rolled back, then ramped again.
        chain = next(r for name, r in rows.items() if "多门店" in name).project_id
        crm = next(r for name, r in rows.items() if "CRM" in name).project_id
        pm = site.token("pm", name="Demo PM")
        client = site.token("client", [chain, crm], name="Client")
        auditor = site.token("auditor", name="Auditor")
        shots = [
            ("portfolio", pm, "/portfolio", "en"),
            ("portfolio-zh", pm, "/portfolio?sort=health", "zh-CN"),
            ("console", pm, f"/pm/p/{crm}", "en"),
            ("console-zh", pm, f"/pm/p/{chain}", "zh-CN"),
            ("portal", client, f"/p/{chain}", "zh-CN"),
            ("portal-en", client, f"/p/{crm}", "en"),
            ("audit", auditor, f"/audit/p/{crm}", "en"),
            ("audit-zh", auditor, f"/audit/p/{crm}", "zh-CN"),
        ]
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(**launch_options())
            for name, token, path, lang in shots:
                for device, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
                    if name == "portal-en" and device == "phone":
                        continue
                    ctx = browser.new_context(viewport=viewport, device_scale_factor=1)
                    ctx.add_cookies([{"name": "dt_lang", "value": lang, "url": site.url}])
                    page = ctx.new_page()
                    page.goto(site.url + "/signin")
                    page.fill("#token", token)
                    page.click("button[type=submit]")
                    page.goto(site.url + path)
                    if name.startswith("audit"):
                        page.select_option("#position", index=8)
                        page.click("#picker button")
                        page.locator(".payload details").nth(8).evaluate("d => d.open = true")
                    page.screenshot(path=str(OUT / f"{name}-{device}.png"), full_page=device == "desktop")
                    ctx.close()
            browser.close()
    print(f"wrote {len(list(OUT.glob('*.png')))} screenshots to {OUT}")


if __name__ == "__main__":
    main()
