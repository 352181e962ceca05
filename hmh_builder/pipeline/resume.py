"""Build state in ``OUT/.hmh-build/``: the config, one completion record per finished shard,
and per-shard progress counters. It exists only while a build is unfinished; once
``manifest.json`` is written the manifest is the record and the state folder is removed.

A shard counts as done on a rerun only when its record has the same config hash and the same
planned content (ids, paths, choices), and the shard file has the recorded size and SHA-256.
Everything else in ``train/``/``test/`` (temporaries, partial or stale shards) is deleted.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from contextlib import contextmanager

from hmh_builder import schema
from hmh_builder.fsio import TMP_SUFFIX, atomic_write_text

STATE_DIR = ".hmh-build"
OWN_ENTRIES = ("manifest.json", "failures.jsonl", STATE_DIR) + schema.SPLITS


class OutError(ValueError):
    """OUT cannot be used as asked; one or two sentences for the user."""


def _state(out: str, *parts: str) -> str:
    return os.path.join(out, STATE_DIR, *parts)


def _read_json(path: str):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _differences(old: dict, new: dict) -> str:
    keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    return ", ".join(keys) or "unknown settings"


def wipe(out: str) -> None:
    """Remove what hmh-build wrote in OUT (never other files)."""
    for name in OWN_ENTRIES:
        path = os.path.join(out, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)


@contextmanager
def exclusive(out: str):
    """Hold an exclusive lock on the OUT folder while a build runs, so a second hmh-build on
    the same OUT stops at once (OutError) instead of deleting the first one's temporaries.
    Best effort: where the filesystem has no flock (some NFS mounts) the build runs unlocked."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    os.makedirs(out, exist_ok=True)
    fd = os.open(out, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutError(
                f"{out} is being written by another hmh-build; wait for it to finish or stop it, then rerun"
            ) from None
        except OSError:
            pass  # no locks on this filesystem
        yield
    finally:
        os.close(fd)


def prepare_out(out: str, config: dict, config_hash: str, overwrite: bool) -> dict | None:
    """Make OUT ready; returns the previous complete manifest when OUT holds one, else None.

    Raises OutError when OUT holds a build of another config (unless ``overwrite``) or
    files hmh-build did not write.
    """
    os.makedirs(out, exist_ok=True)
    manifest = _read_json(os.path.join(out, "manifest.json"))
    state = _read_json(_state(out, "config.json"))
    previous = manifest if isinstance(manifest, dict) else state if isinstance(state, dict) else None
    if previous is not None and previous.get("config_hash") != config_hash:
        if not overwrite:
            old = previous.get("config") or {}
            differs = _differences(old, config)
            hint = (
                f"; pass --shard-size {old['shard_size']} to keep its shards (auto sizes "
                "follow the number of portraits)"
                if differs == "shard_size"
                else ""
            )
            raise OutError(
                f"{out} holds a build with a different config (differs in: {differs})"
                f"{hint}; rerun with --overwrite to start over, or choose another --out"
            )
        wipe(out)
        manifest = None
    elif overwrite:
        wipe(out)
        manifest = None
    foreign = sorted(set(os.listdir(out)) - set(OWN_ENTRIES))
    if foreign:
        raise OutError(
            f"{out} is not empty and holds files hmh-build did not write "
            f"({', '.join(foreign[:3])}); choose an empty or new folder"
        )
    os.makedirs(_state(out, "records"), exist_ok=True)
    atomic_write_text(
        _state(out, "config.json"), json.dumps({"config": config, "config_hash": config_hash}, indent=1)
    )
    return manifest if isinstance(manifest, dict) else None


def write_record(out: str, task, config_hash: str, result: dict) -> None:
    """Completion record of a finished shard (atomic)."""
    record = {
        "name": task.name,
        "plan_digest": task.digest(),
        "config_hash": config_hash,
        "entry": result["entry"],
        "digests": result["digests"],
        "failures": result["failures"],
        "planned": result["planned"],
        "seconds": result.get("seconds"),
    }
    atomic_write_text(_state(out, "records", task.name + ".json"), json.dumps(record))


def save_records(out: str, tasks, done: dict, config_hash: str) -> None:
    """Write the records of ``done`` shards (e.g. kept from a complete build's manifest) into
    the state folder, so they still count as done if this run stops after the manifest is gone."""
    for task in tasks:
        if task.name in done:
            write_record(out, task, config_hash, done[task.name])


def _entry_intact(out: str, entry) -> bool:
    if entry is None:
        return True
    path = os.path.join(out, entry["path"])
    return (
        os.path.isfile(path)
        and os.path.getsize(path) == entry["bytes"]
        and schema.file_sha256(path) == entry["sha256"]
    )


def load_records(out: str, tasks, config_hash: str) -> dict:
    """{shard name: record} of shards that are really done (see the module docstring)."""
    done = {}
    for task in tasks:
        record = _read_json(_state(out, "records", task.name + ".json"))
        if (
            isinstance(record, dict)
            and record.get("config_hash") == config_hash
            and record.get("plan_digest") == task.digest()
            and _entry_intact(out, record.get("entry"))
        ):
            done[task.name] = record
    return done


def _failures_by_id(out: str) -> dict:
    failures = {}
    try:
        with open(os.path.join(out, "failures.jsonl"), encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    record = json.loads(line)
                    failures.setdefault(record.get("id"), []).append(record)
    except (OSError, ValueError, AttributeError):
        return {}
    return failures


def _record_from_shard(out: str, task, entry: dict, failures: dict, config_hash: str):
    """A record for one shard of a complete build, or None when it must be rebuilt."""
    import h5py

    if entry.get("plan_digest") != task.digest() or not _entry_intact(out, entry):
        return None
    with h5py.File(os.path.join(out, entry["path"]), "r") as h5:
        digests = [list(d) for d in schema.read_sample_digests(h5)]
    fails = [f for s in task.samples for f in failures.get(s.id, [])]
    if len(digests) + len({f["id"] for f in fails}) != len(task.samples):
        return None
    return {
        "name": task.name,
        "config_hash": config_hash,
        "entry": entry,
        "digests": digests,
        "failures": fails,
        "planned": len(task.samples),
    }


def records_from_manifest(out: str, manifest: dict, tasks, config_hash: str) -> dict:
    """Records for the shards of a complete build that are intact and planned the same
    (digests re-read from the shards); shards without a file are rebuilt."""
    failures = _failures_by_id(out)
    entries = {e.get("path"): e for e in manifest.get("shards", []) if isinstance(e, dict)}
    done = {}
    for task in tasks:
        entry = entries.get(task.path)
        try:
            record = _record_from_shard(out, task, entry, failures, config_hash) if entry else None
        except (OSError, KeyError, TypeError, ValueError):
            record = None  # unreadable or hand-edited: rebuild it
        if record is not None:
            done[task.name] = record
    return done


def clean_partial(out: str, keep_paths) -> list[str]:
    """Delete temporaries and shard files that are not in ``keep_paths``; returns them."""
    removed = []
    keep = {os.path.normpath(p) for p in keep_paths}
    for top in schema.SPLITS + (STATE_DIR,):
        for root, _, files in os.walk(os.path.join(out, top)):
            for name in files:
                path = os.path.join(root, name)
                rel = os.path.normpath(os.path.relpath(path, out))
                is_shard = top in schema.SPLITS and name.endswith(".h5")
                if name.endswith(TMP_SUFFIX) or (is_shard and rel not in keep):
                    try:
                        os.remove(path)
                        removed.append(rel)
                    except FileNotFoundError:
                        pass
    shutil.rmtree(_state(out, "progress"), ignore_errors=True)
    return removed


def finish(out: str) -> None:
    """Remove the state folder once manifest.json is in place."""
    shutil.rmtree(_state(out), ignore_errors=True)


class ProgressReporter:
    """Samples done in one running shard, written to a tiny file at most every 0.5 s."""

    def __init__(self, out: str, name: str, interval: float = 0.5):
        self.path = _state(out, "progress", name)
        self.interval = interval
        self.last = 0.0

    def __call__(self, done: int) -> None:
        now = time.monotonic()
        if now - self.last < self.interval:
            return
        self.last = now
        try:
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
            with open(self.path, "w") as handle:
                handle.write(str(done))
        except OSError:
            pass  # progress is cosmetic; a full disk shows up where it matters

    def close(self) -> None:
        try:
            os.remove(self.path)
        except OSError:
            pass


def running_progress(out: str) -> int:
    """Sum of the progress counters of shards still running."""
    total = 0
    folder = _state(out, "progress")
    try:
        names = os.listdir(folder)
    except OSError:
        return 0
    for name in names:
        try:
            with open(os.path.join(folder, name)) as handle:
                total += int(handle.read() or 0)
        except (OSError, ValueError):
            continue
    return total
