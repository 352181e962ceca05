"""Interrupted builds resume to the same content digest; OUT of another config is refused."""

import os
import shutil
import signal
import subprocess
import time

import pytest
from click.testing import CliRunner

from hmh_builder.cli import main
from hmh_builder.inspect.verify import verify_build
from tests.builder.helpers import HMH_BUILD, build_args, files_under, kaggle_source, manifest

# Telea keeps each shard busy long enough (~0.2 s) to interrupt a build partway.
OPTIONS = ("--background", "telea", "--shard-size", 2)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    src = kaggle_source(root, n=16)
    out = root / "reference"
    result = CliRunner().invoke(main, build_args(src, out, "--workers", 1, *OPTIONS))
    assert result.exit_code == 0, result.output
    return src, out, manifest(out)["content_digest"]


def _start(src, out):
    return subprocess.Popen(
        [HMH_BUILD, *build_args(src, out, "--workers", 2, *OPTIONS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _wait_for_records(out, n, process):
    records = out / ".hmh-build" / "records"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if records.is_dir() and len(os.listdir(records)) >= n:
            return
        time.sleep(0.01)
    raise AssertionError("the build finished or stalled before it could be interrupted")


def _resume(src, out):
    result = subprocess.run(
        [HMH_BUILD, *build_args(src, out, "--workers", 2, *OPTIONS)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result


def test_sigkill_partway_then_resume_gives_the_uninterrupted_digest(reference, tmp_path):
    src, _, digest = reference
    out = tmp_path / "out"
    process = _start(src, out)
    _wait_for_records(out, 2, process)
    os.killpg(process.pid, signal.SIGKILL)  # the build and its workers, like kill -9 of the job
    process.wait(timeout=30)
    assert not (out / "manifest.json").exists()
    result = _resume(src, out)
    assert "resuming:" in result.stderr and "already complete" in result.stderr
    assert manifest(out)["content_digest"] == digest
    assert not any(name.endswith(".tmp") for name in files_under(out))
    assert verify_build(out) == []


def test_ctrl_c_stops_promptly_removes_temporaries_and_prints_the_resume_command(reference, tmp_path):
    src, _, digest = reference
    out = tmp_path / "out"
    process = _start(src, out)
    _wait_for_records(out, 1, process)
    os.killpg(process.pid, signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output
    assert "Resume with:" in output and f"--out {out}" in output and "Traceback" not in output
    assert not any(name.endswith(".tmp") for name in files_under(out))
    assert manifest_absent(out)
    _resume(src, out)
    assert manifest(out)["content_digest"] == digest


def manifest_absent(out):
    return not (out / "manifest.json").exists()


def test_rerun_rebuilds_only_missing_and_damaged_shards(reference, tmp_path):
    src, ref, digest = reference
    out = tmp_path / "out"
    shutil.copytree(ref, out)
    shards = [s["path"] for s in manifest(out)["shards"]]
    (out / shards[0]).unlink()
    damaged = bytearray((out / shards[1]).read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    (out / shards[1]).write_bytes(bytes(damaged))
    (out / (shards[2] + ".tmp")).write_bytes(b"partial")
    kept_mtime = (out / shards[3]).stat().st_mtime_ns
    result = CliRunner().invoke(main, build_args(src, out, "--workers", 1, *OPTIONS))
    assert result.exit_code == 0, result.output
    assert (
        f"resuming: {len(shards) - 2} of {len(shards)} shard(s) already complete, building 2" in result.output
    )
    assert manifest(out)["content_digest"] == digest
    assert (out / shards[3]).stat().st_mtime_ns == kept_mtime
    assert verify_build(out) == []


def test_rerun_of_a_complete_build_changes_nothing(reference, tmp_path):
    src, ref, digest = reference
    out = tmp_path / "out"
    shutil.copytree(ref, out)
    result = CliRunner().invoke(main, build_args(src, out, "--workers", 1, *OPTIONS))
    assert result.exit_code == 0, result.output
    assert manifest(out)["content_digest"] == digest and verify_build(out) == []


def test_other_config_in_out_is_refused_and_overwrite_starts_over(reference, tmp_path):
    src, ref, _ = reference
    out = tmp_path / "out"
    shutil.copytree(ref, out)
    before = files_under(out)
    refused = CliRunner().invoke(main, build_args(src, out, "--workers", 1, *OPTIONS, "--seed", 1))
    assert refused.exit_code == 1
    assert "different config (differs in: seed)" in refused.output and "--overwrite" in refused.output
    assert files_under(out) == before
    again = CliRunner().invoke(main, build_args(src, out, "--workers", 1, "--seed", 1, "--overwrite"))
    assert again.exit_code == 0, again.output
    assert manifest(out)["config"]["seed"] == 1 and manifest(out)["config"]["background"] == "multilevel"
    assert verify_build(out) == []


def test_a_folder_with_foreign_files_is_refused(reference, tmp_path):
    src = reference[0]
    (tmp_path / "notes.txt").write_text("mine")
    result = CliRunner().invoke(main, build_args(src, tmp_path, "--workers", 1))
    assert result.exit_code == 1 and "hmh-build did not write (notes.txt)" in result.output
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_new_source_files_after_a_complete_build_rebuild_what_they_change(tmp_path):
    from hmh_builder.ingest.synthetic import write_kaggle_layout

    src = kaggle_source(tmp_path, n=6)
    out, fresh = tmp_path / "out", tmp_path / "fresh"
    assert CliRunner().invoke(main, build_args(src, out, "--workers", 1, "--shard-size", 2)).exit_code == 0
    write_kaggle_layout(src, 8, seed=3, height=160, width=120)  # same 6 files plus 2 new ones
    again = CliRunner().invoke(main, build_args(src, out, "--workers", 1, "--shard-size", 2))
    assert again.exit_code == 0, again.output
    assert CliRunner().invoke(main, build_args(src, fresh, "--workers", 1, "--shard-size", 2)).exit_code == 0
    assert manifest(out)["counts"]["written"] == 8
    assert manifest(out)["content_digest"] == manifest(fresh)["content_digest"]
    assert verify_build(out) == []


def test_a_source_without_any_pair_is_one_line(tmp_path):
    (tmp_path / "image").mkdir()
    result = CliRunner().invoke(main, build_args(tmp_path, tmp_path / "out", "--workers", 1))
    assert result.exit_code == 1
    assert result.output.strip() == f"error: {tmp_path}: found no image/matte files to build from"


def test_shards_kept_from_a_complete_build_survive_a_rerun_that_stops(tmp_path, monkeypatch):
    """A rerun after adding sources removes manifest.json before building what changed; when
    that rerun stops (here: a fault), the shards it kept from the manifest must still count
    as done next time instead of being deleted and rebuilt."""
    from hmh_builder.ingest.synthetic import write_kaggle_layout
    from hmh_builder.pipeline import run as build
    from tests.builder.helpers import SMALL

    src = kaggle_source(tmp_path, n=6)
    out, fresh = tmp_path / "out", tmp_path / "fresh"
    args = build_args(src, out, "--workers", 1, "--shard-size", 2)
    assert CliRunner().invoke(main, args).exit_code == 0
    write_kaggle_layout(src, 8, seed=3, **SMALL)  # the same 6 portraits plus 2 new ones
    victim = src / "clip_img/1803151818/clip_00000000/1803151818-00000008.jpg"
    saved, real_discover = victim.read_bytes(), build.sources.discover

    def discover_then_delete(path):
        found = real_discover(path)
        victim.unlink()
        return found

    monkeypatch.setattr(build.sources, "discover", discover_then_delete)
    stopped = CliRunner().invoke(main, args)
    assert stopped.exit_code == 1 and "resuming: " in stopped.output, stopped.output
    kept = {p: p.stat().st_mtime_ns for p in out.rglob("*.h5")}
    monkeypatch.setattr(build.sources, "discover", real_discover)
    victim.write_bytes(saved)
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    assert "building 1\n" in again.output, again.output  # only the shard that faulted
    assert all(p.stat().st_mtime_ns == t for p, t in kept.items())
    assert CliRunner().invoke(main, build_args(src, fresh, "--workers", 1, "--shard-size", 2)).exit_code == 0
    assert manifest(out)["content_digest"] == manifest(fresh)["content_digest"]


def test_only_the_auto_shard_size_changed_says_which_shard_size_keeps_the_shards(tmp_path):
    """Adding portraits can change what --shard-size auto resolves to; the refusal says how
    to keep the existing shards instead of leaving --overwrite as the only way out."""
    from hmh_builder.pipeline import resume

    config = {"source": "/src", "seed": 0, "shard_size": 1}
    resume.prepare_out(str(tmp_path), config, "h1", overwrite=False)
    with pytest.raises(resume.OutError) as info:
        resume.prepare_out(str(tmp_path), dict(config, shard_size=2), "h2", overwrite=False)
    assert "(differs in: shard_size); pass --shard-size 1 to keep its shards" in str(info.value)
    with pytest.raises(resume.OutError) as info:
        resume.prepare_out(str(tmp_path), dict(config, seed=1, shard_size=2), "h3", overwrite=False)
    assert "(differs in: seed, shard_size); rerun with --overwrite" in str(info.value)


def test_a_second_build_into_the_same_out_stops_at_once(reference, tmp_path):
    """While one hmh-build writes OUT (it holds a lock on the folder), another one started
    on the same OUT must not clean up the first one's temporaries: one line, exit 1."""
    import fcntl

    src = reference[0]
    out = tmp_path / "out"
    out.mkdir()
    fd = os.open(out, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what a running build holds
        busy = CliRunner().invoke(main, build_args(src, out, "--workers", 1, *OPTIONS))
    finally:
        os.close(fd)
    assert busy.exit_code == 1
    assert (
        busy.output.strip() == f"error: {out} is being written by another hmh-build; wait for it "
        "to finish or stop it, then rerun"
    )
    assert os.listdir(out) == []
    free = CliRunner().invoke(main, build_args(src, out, "--workers", 1, *OPTIONS))
    assert free.exit_code == 0, free.output


def test_no_flock_on_the_filesystem_still_builds(reference, tmp_path, monkeypatch):
    """Some NFS mounts refuse flock (ENOLCK): the lock is best effort, the build goes on and
    writes the same verified shards as a locked build."""
    import errno
    import fcntl

    src, locked, digest = reference
    refused = []

    def no_locks(fd, operation):
        refused.append(operation)
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, build_args(src, out, "--workers", 1, *OPTIONS))
    assert result.exit_code == 0, result.output
    assert refused == [fcntl.LOCK_EX | fcntl.LOCK_NB]  # the build asked for its lock once
    assert verify_build(out) == []
    assert manifest(out)["content_digest"] == digest
    assert manifest(out)["counts"] == manifest(locked)["counts"]
    assert len(manifest(out)["shards"]) == len(manifest(locked)["shards"])
