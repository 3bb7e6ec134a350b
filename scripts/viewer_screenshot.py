"""docs/images/viewer.png: the viewer page of the bundled sample, as headless Chromium shows it.

    python scripts/viewer_screenshot.py            # needs Debian's chromium (apt install chromium)

Lifts the bundled sample (``poselift demo``: MediaPipe 2D of Pose2Sim's cam01 and its video) into a
temporary folder and screenshots its ``viewer.html`` after one second of playing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "docs" / "images" / "viewer.png"


def main() -> None:
    from poselift.lift import run_demo

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("no Chromium here: apt install chromium")
    with tempfile.TemporaryDirectory() as folder:
        run_demo(Path(folder) / "demo")
        page = Path(folder) / "demo" / "viewer.html"
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        "--autoplay-policy=no-user-gesture-required", f"--user-data-dir={Path(folder) / 'profile'}",
                        "--window-size=1000,760", "--virtual-time-budget=1500", f"--screenshot={OUT}", page.as_uri()],
                       check=True, capture_output=True, timeout=180)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
