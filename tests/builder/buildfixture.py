"""Real build folders for the verify/release/preview/stats tests.

``make_build(tmp)`` writes a tiny seeded synthetic source in the Kaggle layout
(``hmh_builder.ingest.synthetic``) and runs the real ``hmh-build --src SRC --out OUT`` command on it
at 64×64, three samples per shard and a test fraction of 0.3, so both splits and several
shards exist.
"""

from __future__ import annotations

from click.testing import CliRunner

from hmh_builder.cli import main
from hmh_builder.ingest.synthetic import write_kaggle_layout


def make_build(tmp, n=10, size=64, store_b_t=False, altered=None):
    """Return the path of a finished build folder under ``tmp`` (``altered``: pass
    ``--altered`` with that side; None leaves the default)."""
    src, out = tmp / "src", tmp / "out"
    write_kaggle_layout(src, n, seed=0, height=160, width=120, matte_rgb="zero")
    args = [
        "--src",
        str(src),
        "--out",
        str(out),
        "--size",
        str(size),
        "--shard-size",
        "3",
        "--test-fraction",
        "0.3",
        "--workers",
        "1",
        "--no-progress",
    ]
    if store_b_t:
        args.append("--store-b-t")
    if altered:
        args += ["--altered", altered]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return out
