"""Build the documentation and take headless Chromium screenshots of the pages a newcomer reads first.

    python docs/screenshots.py                     # into a temporary folder, paths printed
    python docs/screenshots.py --out shots --width 1024

Pages: the home page, the quickstart, the performance page and the `.ov` accessor's API
reference. Each is captured at the given window width, tall enough to show the whole
page (Chromium's `--screenshot` captures the window, so the heights below are
generous), and, when Pillow is installed, also cut into tiles of 1,600 pixels that an
image viewer shows at full size. Needs the docs extra (`pip install ".[docs]"`) and a
Chromium or Chrome binary: `apt-get install chromium` on Debian or Ubuntu, or the
browser named by `--browser` or `$CHROMIUM`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
PAGES = {
    "home": ("index.html", 2600),
    "quickstart": ("quickstart/index.html", 4200),
    "performance": ("performance/index.html", 12000),
    "api-accessor": ("api-accessor/index.html", 9000),
}
TILE = 1600


def find_browser(given: str | None) -> str:
    """Find the Chromium binary: ``given``, ``$CHROMIUM``, or the first of ``BROWSERS`` on the PATH."""
    for name in (given, os.environ.get("CHROMIUM"), *BROWSERS):
        found = shutil.which(name) if name else None
        if found:
            return found
    raise SystemExit(
        f"no Chromium found (tried --browser, $CHROMIUM, {', '.join(BROWSERS)}): apt-get install chromium, "
        "or pass --browser PATH"
    )


def build(site: Path) -> None:
    """``mkdocs build --strict`` of this repository into ``site``."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(site)]
    subprocess.run(command, cwd=ROOT, env=env, check=True)


def screenshot(browser: str, page: Path, png: Path, width: int, height: int) -> None:
    """One headless capture of ``page`` in a ``width`` x ``height`` window."""
    command = [
        browser,
        "--headless",
        "--no-sandbox",  # runs as root in containers and CI
        "--disable-gpu",
        "--hide-scrollbars",
        f"--window-size={width},{height}",
        f"--screenshot={png}",
        page.as_uri(),
    ]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    if not png.is_file():
        raise SystemExit(f"{browser} wrote no screenshot of {page}")


def tiles(png: Path) -> list[Path]:
    """Cut ``png`` into ``TILE``-pixel-high pieces, dropping the blank space below the page."""
    try:
        from PIL import Image, ImageChops
    except ImportError:
        return []
    with Image.open(png) as image:
        picture = image.convert("RGB")
    background = Image.new("RGB", picture.size, picture.getpixel((picture.width - 1, picture.height - 1)))
    box = ImageChops.difference(picture, background).getbbox()
    bottom = box[3] if box else picture.height
    pieces = []
    for number, top in enumerate(range(0, bottom, TILE)):
        piece = png.with_name(f"{png.stem}-{number}.png")
        picture.crop((0, top, picture.width, min(top + TILE, bottom))).save(piece)
        pieces.append(piece)
    return pieces


def main(argv: list[str] | None = None) -> list[Path]:
    """Build, capture every page of ``PAGES``, print and return the files written."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="folder for the PNG files (default: a new temporary folder)")
    parser.add_argument("--width", type=int, default=1280, help="window width in CSS pixels [1280]")
    parser.add_argument("--browser", help="Chromium or Chrome binary (default: $CHROMIUM, then the PATH)")
    args = parser.parse_args(argv)
    browser = find_browser(args.browser)
    out: Path = args.out or Path(tempfile.mkdtemp(prefix="dask-openvino-screenshots-"))
    out.mkdir(parents=True, exist_ok=True)
    site = out / "site"
    build(site)
    written = []
    for name, (path, height) in PAGES.items():
        png = out / f"{name}-{args.width}.png"
        screenshot(browser, site / path, png, args.width, height)
        written += [png, *tiles(png)]
    for path in written:
        print(path)
    return written


if __name__ == "__main__":
    main()
