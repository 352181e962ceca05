"""Environmental faults: a full disk, an unwritable OUT, an unreadable or vanishing source file.

Each must give one line naming the path (no traceback), leave every finished shard intact and
no temporary file, and resume to the uninterrupted digest once the cause is fixed. The full
and read-only disks are real tmpfs mounts inside a private mount namespace (``unshare``).
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from hmh_builder import schema
from hmh_builder.cli import main
from tests.builder.helpers import HMH_BUILD, build_args, failures, files_under, kaggle_source, manifest

OPTIONS = ("--shard-size", 2, "--workers", 2)
ONE = ("--shard-size", 2, "--workers", 1)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    src = kaggle_source(tmp_path_factory.mktemp("faults"), n=12)
    out = tmp_path_factory.mktemp("ref") / "out"
    result = CliRunner().invoke(main, build_args(src, out, "--workers", 1, "--shard-size", 2))
    assert result.exit_code == 0, result.output
    return src, manifest(out)["content_digest"]


def _in_mount_namespace(script: str) -> subprocess.CompletedProcess:
    """Run a bash script in a private mount namespace (as root, or as a mapped root user)."""
    unshare = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-r", "-m"]
    result = subprocess.run(unshare + ["bash", "-c", script], capture_output=True, text=True, timeout=300)
    assert "unshare failed" not in result.stderr, f"no private mount namespace here: {result.stderr}"
    return result


def _cli(src, out, *extra):
    args = " ".join(f"'{a}'" for a in build_args(src, out, *OPTIONS, *extra))
    return f"'{HMH_BUILD}' {args}"


def _assert_intact(out: Path):
    """No temporary file, no manifest, and every recorded shard matches its record."""
    names = files_under(out)
    assert not any(n.endswith(".tmp") for n in names), names
    assert "manifest.json" not in names
    records = list((out / ".hmh-build" / "records").glob("*.json"))
    for path in records:
        entry = json.loads(path.read_text())["entry"]
        assert schema.file_sha256(out / entry["path"]) == entry["sha256"]
    assert sorted(n for n in names if n.endswith(".h5")) == sorted(
        json.loads(p.read_text())["entry"]["path"] for p in records
    )
    return len(records)


def test_full_disk_is_one_line_keeps_finished_shards_and_resumes(reference, tmp_path):
    src, digest = reference
    mnt, first, final = tmp_path / "disk", tmp_path / "after_full", tmp_path / "after_fix"
    mnt.mkdir()
    script = f"""
        mount -t tmpfs -o size=300k tmpfs '{mnt}' || exit 99
        {_cli(src, mnt)} > '{tmp_path}/1.out' 2> '{tmp_path}/1.err'; echo "first=$?"
        cp -a '{mnt}' '{first}'
        mount -o remount,size=20m tmpfs '{mnt}'
        {_cli(src, mnt)} > '{tmp_path}/2.out' 2> '{tmp_path}/2.err'; echo "second=$?"
        cp -a '{mnt}' '{final}'
    """
    result = _in_mount_namespace(script)
    assert "first=1" in result.stdout and "second=0" in result.stdout, result
    err = (tmp_path / "1.err").read_text()
    # Whichever write meets the full disk first is named: a shard under train/ or the build's
    # own state in .hmh-build/ (two workers race for the last free blocks).
    assert "No space left on device" in err and "Traceback" not in err
    assert f"{mnt}/train/" in err or f"{mnt}/.hmh-build" in err, err
    assert "resume with:" in err
    assert _assert_intact(first) >= 1
    assert "already complete" in (tmp_path / "2.err").read_text()
    assert manifest(final)["content_digest"] == digest


def test_read_only_out_is_one_line_naming_it(reference, tmp_path):
    src, _ = reference
    mnt = tmp_path / "ro"
    mnt.mkdir()
    script = f"""
        mount -t tmpfs -o ro,size=1m tmpfs '{mnt}' || exit 99
        {_cli(src, mnt)}; echo "status=$?"
    """
    result = _in_mount_namespace(script)
    assert "status=1" in result.stdout, result
    assert result.stderr.strip().splitlines()[-1] == f"error: {mnt}/.hmh-build: Read-only file system"


def test_out_under_a_regular_file_is_one_line_naming_it(reference, tmp_path):
    (tmp_path / "file").write_text("x")
    result = CliRunner().invoke(main, build_args(reference[0], tmp_path / "file" / "out", "--workers", 1))
    assert result.exit_code == 1
    assert result.output.strip() == f"error: {tmp_path}/file/out: Not a directory"


#: Root reads any file whatever its mode; without its capabilities (CAP_DAC_OVERRIDE and
#: CAP_DAC_READ_SEARCH) it obeys file modes like any user, yet still owns the checkout, the
#: virtual environment and the temporary folders (wherever they live, even in a 0700 folder).
DROP_CAPABILITIES = ["setpriv", "--bounding-set=-all", "--inh-caps=-all"]


def _without_privileges(cmd: list) -> list:
    """``cmd`` run so that a file of mode 0o000 cannot be read: as is for a normal user, with
    every capability dropped for root. The build then runs with --workers 1 (the
    unreadable-file path in worker.run_shard is the same in and out of a pool)."""
    return cmd if os.geteuid() != 0 else DROP_CAPABILITIES + cmd


@pytest.fixture
def unreadable(tmp_path):
    """Make a file unreadable to :func:`_without_privileges` commands (restored afterwards);
    skips, saying why, where this machine cannot make a file unreadable to the build."""
    probe = tmp_path / "probe"
    probe.write_text("x")
    probe.chmod(0o000)
    try:
        check = subprocess.run(
            _without_privileges([sys.executable, "-c", f"open({str(probe)!r})"]),
            capture_output=True,
            text=True,
            timeout=60,
        )
    except FileNotFoundError as exc:  # no setpriv
        pytest.skip(f"cannot run the build without root's capabilities ({exc.filename} missing)")
    if check.returncode == 0 or "PermissionError" not in check.stderr:
        pytest.skip(
            "a file of mode 0o000 stays readable to the build here (root whose "
            f"capabilities cannot be dropped?): {check.stderr.strip()[-200:]}"
        )
    made = []

    def make(path: Path) -> Path:
        path.chmod(0o000)
        made.append(path)
        return path

    yield make
    for path in made:
        path.chmod(0o644)


def test_unreadable_source_file_is_one_line_and_resumes_once_readable(reference, tmp_path, unreadable):
    src, digest = reference
    work, out = tmp_path / "src", tmp_path / "out"
    shutil.copytree(src, work)
    victim = unreadable(sorted((work / "clip_img").rglob("*.jpg"))[5])
    first = subprocess.run(
        _without_privileges([HMH_BUILD, *build_args(work, out, *ONE)]),
        capture_output=True,
        text=True,
        timeout=300,
    )
    victim.chmod(0o644)  # the cause is fixed
    assert first.returncode == 1, first.stderr
    assert f"error: {victim}: cannot be read (Permission denied)" in first.stderr
    assert "Traceback" not in first.stderr
    assert _assert_intact(out) >= 1
    second = subprocess.run(
        _without_privileges([HMH_BUILD, *build_args(work, out, *ONE)]),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert second.returncode == 0, second.stderr
    assert manifest(out)["content_digest"] == digest


def test_source_file_vanishing_after_discovery(reference, tmp_path, monkeypatch):
    src, digest = reference
    work = tmp_path / "src"
    shutil.copytree(src, work)
    victim = sorted((work / "matting").rglob("*.png"))[3]
    saved = victim.read_bytes()
    from hmh_builder.pipeline import run as build

    real_discover = build.sources.discover

    def discover_then_delete(path):
        found = real_discover(path)
        victim.unlink()  # deleted by someone else while the build runs
        return found

    monkeypatch.setattr(build.sources, "discover", discover_then_delete)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, build_args(work, out, "--workers", 1, "--shard-size", 2))
    assert result.exit_code == 1
    assert f"error: {victim}: cannot be read (No such file or directory)" in result.output
    assert "Traceback" not in result.output
    _assert_intact(out)
    monkeypatch.setattr(build.sources, "discover", real_discover)
    victim.write_bytes(saved)  # the cause is fixed
    again = CliRunner().invoke(main, build_args(work, out, "--workers", 1, "--shard-size", 2))
    assert again.exit_code == 0, again.output
    assert manifest(out)["content_digest"] == digest
    assert failures(out) == []
