"""Shard writer: rows go into ``<shard>.h5.tmp`` in the shard's folder; ``close`` shrinks the
datasets to the rows written, sets the FORMAT.md attributes, closes, fsyncs, renames into
place and fsyncs the folder. A folder therefore never holds a half-written file under a final
name. The atomic writer for small text files is ``hmh_builder.fsio.atomic_write_text``.
"""

from __future__ import annotations

import os

from hmh_builder import schema
from hmh_builder.fsio import TMP_SUFFIX, fsync_dir, remove_quietly


def publish(path: str, rel_path: str, split: str, rows: int) -> dict | None:
    """Move the closed ``path.tmp`` into place (fsync file, rename, fsync folder); returns its
    manifest entry (path, split, samples, bytes, sha256), or None after removing an empty one."""
    tmp = path + TMP_SUFFIX
    if rows == 0:
        remove_quietly(tmp)
        return None
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_dir(os.path.dirname(path))
    return {
        "path": rel_path,
        "split": split,
        "samples": rows,
        "bytes": os.path.getsize(path),
        "sha256": schema.file_sha256(path),
    }


class ShardWriter:
    """Write one shard of at most ``capacity`` samples of size (height, width).

    Use as a context manager; leaving it with an exception removes the temporary file.
    ``altered`` is the side the shard's I_d alters (its attribute, and part of every sample
    digest). ``add`` stores one sample and returns its schema.sample_digest; ``close`` returns the
    shard's entry for the manifest (path, split, samples, bytes, sha256), or None when no
    sample was added (no file is written then).
    """

    def __init__(
        self,
        out_dir: str,
        rel_path: str,
        split: str,
        capacity: int,
        height: int,
        width: int,
        builder_version: str,
        config_hash: str,
        store_b_t: bool = False,
        altered: str = schema.DEFAULT_ALTERED,
    ):
        import h5py

        self.rel_path = rel_path
        self.split = split
        self.path = os.path.join(out_dir, rel_path)
        self.tmp = self.path + TMP_SUFFIX
        self.store_b_t = store_b_t
        self.altered = altered
        self.rows = 0
        self._strings = {name: [] for name in schema.STRING_DATASETS}
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self._h5 = h5py.File(self.tmp, "w")
        try:
            schema.create_shard_datasets(self._h5, capacity, height, width, store_b_t, resizable=True)
            attrs = schema.shard_attrs(split, height, width, builder_version, config_hash, altered)
            for key, value in attrs.items():
                self._h5.attrs[key] = value
        except BaseException:
            self.abort()
            raise

    def add(self, sample_id: str, transform: str, params: str, arrays: dict) -> str:
        """Append one sample: ``arrays`` holds uint8 I, A, F, B, I_d (and B_t) for it."""
        for name in schema.IMAGE_DATASETS + (("B_t",) if self.store_b_t else ()):
            self._h5[name][self.rows] = arrays[name]
        for name, value in zip(schema.STRING_DATASETS, (sample_id, transform, params), strict=False):
            self._strings[name].append(value)
        self.rows += 1
        return schema.sample_digest(sample_id, transform, params, arrays, self.altered)

    def close(self) -> dict | None:
        """Finish the shard atomically; returns its manifest entry (None when empty)."""
        h5, self._h5 = self._h5, None
        try:
            schema.resize_shard_datasets(h5, self.rows)
            for name, values in self._strings.items():
                h5[name][:] = values
            h5.close()
            return publish(self.path, self.rel_path, self.split, self.rows)
        except BaseException:
            h5.close()
            remove_quietly(self.tmp)
            raise

    def abort(self) -> None:
        """Drop the temporary file (after an error or an interrupt)."""
        if self._h5 is not None:
            try:
                self._h5.close()
            except Exception:
                pass
            self._h5 = None
        remove_quietly(self.tmp)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.abort()
        return False
