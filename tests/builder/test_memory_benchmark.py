"""benchmarks/memory.py runs end to end and reports one row per dataset size, and the
hostile-matte rows (a small side here; docs/performance.md's figures use 20000)."""

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "memory.py"


def test_memory_benchmark_reports_peak_rss_per_count(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--counts",
            "2",
            "4",
            "--height",
            "64",
            "--width",
            "48",
            "--size",
            "32",
            "--workers",
            "1",
            "--shard-size",
            "2",
            "--keep",
            str(tmp_path),
            "--hostile",
            "--hostile-side",
            "1000",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if re.match(r"\s+\d+\s+\d+ MB", line)]
    assert [row[0] for row in rows] == ["2", "4"]
    assert all(int(row[1]) > 10 for row in rows)  # a Python process with numpy/cv2/h5py loaded
    assert (tmp_path / "out4" / "manifest.json").is_file()
    hostile = [line for line in result.stdout.splitlines() if ": peak RSS tree" in line]
    assert len(hostile) == 2, result.stdout
    assert hostile[0].startswith("2 + hostile matte") and "is 1000×1000" in hostile[0]
    assert hostile[1].startswith("decode that matte") and "1000² RGBA" in hostile[1]
