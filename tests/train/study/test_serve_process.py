"""``hmh-train study serve`` as a real process: killed with SIGKILL mid-study and restarted,
it has lost no acknowledged score and every rater resumes where they stopped; Ctrl-C stops it
cleanly; unusable folders and busy ports give one line."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

from click.testing import CliRunner

from hmh_train.cli import main
from hmh_train.study.folder import load_study, rater_order
from hmh_train.study.store import effective, parse_lines
from tests.train.study.conftest import write_hand_study
from tests.train.study.http_client import get_json, post_rating

SCRIPT = os.path.join(os.path.dirname(sys.executable), "hmh-train")


def start_serve(study_dir):
    """(process, base URL) of ``hmh-train study serve STUDY --port 0`` once it listens."""
    proc = subprocess.Popen(
        [SCRIPT, "study", "serve", str(study_dir), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in proc.stdout:
        if line.startswith("serving on "):
            return proc, line.split()[2].rstrip("/")
    proc.wait()
    raise AssertionError(f"serve did not start: {proc.stderr.read()}")


def rate_next(url, rater, score):
    status, nxt = get_json(url, f"/api/next?rater={rater}")
    assert status == 200 and nxt["item"] is not None
    status, answer = post_rating(url, rater, nxt["item"], score)
    assert status == 200 and answer["stored"] is True
    return nxt["item"]


def test_kill_and_restart_loses_nothing_and_raters_resume(tmp_path):
    study_dir = tmp_path / "study"
    write_hand_study(study_dir, samples=10)
    study = load_study(study_dir)
    proc, url = start_serve(study_dir)
    try:
        given = {("ann", rate_next(url, "ann", 1 + k % 5)): 1 + k % 5 for k in range(7)}
        given.update({("bob", rate_next(url, "bob", 4)): 4 for _ in range(3)})
    finally:
        proc.kill()  # SIGKILL: no chance to flush or clean up anything
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    with open(study_dir / "ratings.jsonl", "ab") as handle:  # a crash in the middle of a write
        handle.write(b'{"time": "2026-01-01T00:00:00.000Z", "rater": "ann", "it')

    proc, url = start_serve(study_dir)
    try:
        for rater, done in (("ann", 7), ("bob", 3)):
            status, nxt = get_json(url, f"/api/next?rater={rater}")
            assert (status, nxt["done"], nxt["total"]) == (200, done, 20)
            assert nxt["item"] == rater_order(study, rater)[done]
        given[("ann", rate_next(url, "ann", 5))] = 5
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "stopped: 11 ratings from 2 raters" in out
    assert "cutting off an incomplete last line" in err and "Traceback" not in err
    records, problems = parse_lines((study_dir / "ratings.jsonl").read_bytes())
    assert problems == [] and len(records) == 11
    assert {key: r["score"] for key, r in effective(records).items()} == given


def test_sigterm_stops_the_server_cleanly(tmp_path):
    write_hand_study(tmp_path / "study", samples=2)
    proc, url = start_serve(tmp_path / "study")
    rate_next(url, "ann", 3)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "stopped: 1 ratings from 1 raters" in out, err


def test_unusable_study_folders_and_busy_ports_give_one_line(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["study", "serve", str(tmp_path / "nowhere")])
    assert result.exit_code == 1 and "no such study folder" in result.output
    write_hand_study(tmp_path / "study", samples=2)
    (tmp_path / "study" / "images" / sorted(os.listdir(tmp_path / "study" / "images"))[0]).unlink()
    result = runner.invoke(main, ["study", "serve", str(tmp_path / "study")])
    assert result.exit_code == 1 and "missing (every item of study.json needs its image)" in result.output
    write_hand_study(tmp_path / "ok", samples=2)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = runner.invoke(
            main, ["study", "serve", str(tmp_path / "ok"), "--port", str(busy.getsockname()[1])]
        )
    assert result.exit_code == 1 and "cannot listen on 127.0.0.1:" in result.output
    assert "Address already in use" in result.output
    for output in (result.output,):
        assert "Traceback" not in output and len(output.strip().splitlines()) == 1
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "study.json").write_text(
        '{"format": "hmh-study", "version": 1, "methods": ["a"], '
        '"samples": ["s"], "items": {"../etc/passwd": {"sample": "s", "method": "a"}}}'
    )
    result = runner.invoke(main, ["study", "serve", str(tmp_path / "bad")])
    assert result.exit_code == 1 and "is not 12 lower-case hex digits" in result.output
