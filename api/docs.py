"""`/docs` (Swagger UI) and `/redoc` served with their assets from the `fastapi-offline` package: no CDN.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so on a machine without
internet `/docs` was blank. The same HTML (FastAPI's `get_swagger_ui_html` and
`get_redoc_html`) is served here with local asset addresses.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs-assets"
# The assets as the pinned `fastapi-offline` release ships them (swagger-ui-bundle.js, swagger-ui.css,
# redoc.standalone.js, favicon.png).
ASSET_DIR = Path(str(files("fastapi_offline") / "static"))


def install(app: FastAPI) -> None:
    """Serve `/docs` and `/redoc` for `app.openapi_url` with the packaged assets (app made with both set to None)."""
    assert app.openapi_url is not None
    openapi_url = app.openapi_url
    title = app.title
    app.mount(ASSETS, StaticFiles(directory=ASSET_DIR), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url, title=f"{title}: Swagger UI", swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css", swagger_favicon_url=f"{ASSETS}/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url, title=f"{title}: ReDoc", redoc_js_url=f"{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS}/favicon.png", with_google_fonts=False,
        )
