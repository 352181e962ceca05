"""Take docs/study-page.png, the screenshot of the rating page, with a real headless
Chromium: build the example portraits at 256×256, make a study of four of the training split
(I_d and the real photograph I), serve it on loopback and photograph the page of a rater at
picture 1.

    python docs/study_screenshot.py            # needs chromium, chromium-driver and selenium
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=900,1000",
)


def main(out: Path = ROOT / "docs" / "study-page.png") -> None:
    from click.testing import CliRunner
    from PIL import Image

    from hmh_builder.cli import main as build
    from hmh_train.cli import main as train
    from hmh_train.study.server import open_server
    from tests.train.study.browser import chromium_paths, start_chromium

    paths = chromium_paths()
    if paths is None:
        sys.exit("chromium and chromedriver are needed (apt-get install -y chromium chromium-driver)")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for cli, args in (
            (
                build,
                [
                    "build",
                    "--src",
                    str(ROOT / "examples" / "kaggle_mini"),
                    "--out",
                    str(tmp / "shards"),
                    "--workers",
                    "1",
                    "--no-progress",
                ],
            ),
            (
                train,
                [
                    "study",
                    "make",
                    "--shards",
                    str(tmp / "shards"),
                    "--split",
                    "train",
                    "--n",
                    "4",
                    "--include-real",
                    "--out",
                    str(tmp / "study"),
                    "--no-progress",
                ],
            ),
        ):
            result = CliRunner().invoke(cli, args)
            if result.exit_code:
                sys.exit(result.output)
        server = open_server(tmp / "study", "127.0.0.1", 0, log=lambda line: None)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        driver = start_chromium(*paths, tmp / "profile", FLAGS)
        try:
            driver.get(f"http://127.0.0.1:{server.server_address[1]}/?rater=Ann")
            deadline = time.monotonic() + 60
            while driver.execute_script("return document.body.dataset.state") != "rating":
                if time.monotonic() > deadline:
                    sys.exit("the page did not show a picture within 60 s")
                time.sleep(0.1)
            driver.save_screenshot(str(tmp / "page.png"))
        finally:
            driver.quit()
            server.shutdown()
            server.server_close()
            server.store.close()
        with Image.open(tmp / "page.png") as page:  # 128 colours keep the PNG small
            page.convert("RGB").quantize(128, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    print(f"wrote {out.relative_to(ROOT)} ({out.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
