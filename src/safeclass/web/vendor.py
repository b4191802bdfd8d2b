"""Files from npm that browsers load from SafeClass's own origin, never from a CDN.

scripts/install runs `npm ci` in assets/ (assets/package.json pins the versions); the app serves
MediaPipe's selfie segmentation (background blur) from there under `SELFIE_SEGMENTATION_URL`.
When the files are not installed the app still starts: /static/vendor/index.json says that blur
is unavailable and the pages say so in words.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.responses import JSONResponse
from starlette.staticfiles import StaticFiles

# src/safeclass/web/vendor.py -> the repository (SafeClass runs from its checkout).
ASSETS_DIR = Path(__file__).resolve().parents[3] / "assets" / "node_modules"
SELFIE_SEGMENTATION_DIR = ASSETS_DIR / "@mediapipe" / "selfie_segmentation"
SELFIE_SEGMENTATION_URL = "/static/vendor/selfie_segmentation/"
INDEX_URL = "/static/vendor/index.json"
# The file blur.js loads first; the rest it asks for through MediaPipe's `locateFile`.
SELFIE_SEGMENTATION_LOADER = "selfie_segmentation.js"


def selfie_segmentation_installed(folder: Path = SELFIE_SEGMENTATION_DIR) -> bool:
    return (folder / SELFIE_SEGMENTATION_LOADER).is_file()


def mount_vendor_files(
    app: FastAPI, *, selfie_segmentation: Path = SELFIE_SEGMENTATION_DIR
) -> None:
    """Serve the installed files, and an index saying which are there. Call before the app mounts
    /static, which would otherwise answer these paths first."""
    installed = selfie_segmentation_installed(selfie_segmentation)
    index = {"selfie_segmentation": SELFIE_SEGMENTATION_URL if installed else None}

    @app.get(INDEX_URL, include_in_schema=False)
    def vendor_index() -> JSONResponse:
        return JSONResponse(index)

    if installed:
        app.mount(
            SELFIE_SEGMENTATION_URL.rstrip("/"),
            StaticFiles(directory=selfie_segmentation),
            name="vendor-selfie-segmentation",
        )
