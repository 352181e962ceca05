"""Ratings on disk: ``STUDY/ratings.jsonl``, one JSON object per score, appended and fsynced
before the server answers, so a crash or Ctrl-C loses nothing that was acknowledged.

A line: ``{"time": "2026-…Z", "rater": str, "item": str, "score": 1..5}``, plus
``"replaces": k`` when the rater had already scored that item (the later line wins; both stay
in the file as the log). A line cut short by a crash (no final newline) was never
acknowledged: the server cuts it off when it starts, with a warning.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime, timezone

from hmh_builder.fsio import fsync_dir
from hmh_train.study.folder import RATINGS_JSONL, Study, StudyError

MAX_RATER_CHARS = 64
SCORES = (1, 2, 3, 4, 5)


class BadRating(ValueError):
    """A rating or rater the API refuses; ``str()`` is the message sent back with HTTP 400."""


def check_rater(name) -> str:
    """The rater's name stripped of surrounding spaces; BadRating unless 1–64 printable chars."""
    if not isinstance(name, str):
        raise BadRating("rater must be a string")
    name = name.strip()
    if not name:
        raise BadRating("rater must not be empty")
    if len(name) > MAX_RATER_CHARS or not name.isprintable():
        raise BadRating(f"rater must be at most {MAX_RATER_CHARS} printable characters")
    return name


def check_rating(payload, study: Study) -> tuple[str, str, int]:
    """``(rater, item, score)`` from a POSTed JSON object; BadRating saying what is wrong."""
    if not isinstance(payload, dict):
        raise BadRating('body must be a JSON object {"rater": str, "item": str, "score": 1..5}')
    unknown = sorted(set(payload) - {"rater", "item", "score"})
    if unknown:
        raise BadRating(f"unknown field {unknown[0]!r}")
    rater = check_rater(payload.get("rater"))
    item = payload.get("item")
    if not isinstance(item, str) or item not in study.items:
        raise BadRating("unknown item")
    score = payload.get("score")
    if isinstance(score, bool) or not isinstance(score, int) or score not in SCORES:
        raise BadRating("score must be an integer from 1 to 5")
    return rater, item, score


def parse_lines(data: bytes, name: str = RATINGS_JSONL) -> tuple[list[dict], list[str]]:
    """``(records, problems)`` from a ratings file's bytes. Records: valid lines in file order
    (``line`` = 1-based number added); problems: one line each for what was skipped."""
    records, problems = [], []
    lines = data.split(b"\n")
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        if number == len(lines):  # no newline after it: cut short while being written
            problems.append(
                f"{name} line {number}: incomplete (the server stopped while writing it); ignored"
            )
            continue
        try:
            record = json.loads(raw)
            if not isinstance(record, dict):
                raise ValueError("not an object")
            check_rater(record.get("rater"))
            score = record.get("score")
            if not isinstance(record.get("item"), str) or isinstance(score, bool) or score not in SCORES:
                raise ValueError("needs rater, item and score 1..5")
        except (ValueError, BadRating) as exc:
            problems.append(f"{name} line {number}: not a rating ({exc}); ignored")
            continue
        record["rater"] = record["rater"].strip()
        record["line"] = number
        records.append(record)
    return records, problems


def effective(records: list[dict]) -> dict:
    """{(rater, item): record} keeping the last record of each pair (a re-score replaces)."""
    latest = {}
    for record in records:
        latest[(record["rater"], record["item"])] = record
    return latest


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RatingStore:
    """The ratings of one study, in memory and in ``STUDY/ratings.jsonl`` (thread-safe).

    Opening takes an exclusive lock on the file (a second server on the same study is refused),
    cuts off an incomplete last line and reads every rating back.
    """

    def __init__(self, study: Study, log=print):
        self.study, self.log = study, log
        self.path = os.path.join(study.root, RATINGS_JSONL)
        self.lock = threading.Lock()
        self.handle = open(self.path, "a+b")
        self._take_lock()
        self.handle.seek(0)
        data = self.handle.read()
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            self.log(
                f"warning: {self.path}: cutting off an incomplete last line ({len(data) - keep} "
                "bytes, never acknowledged to a rater)"
            )
            self.handle.truncate(keep)
            os.fsync(self.handle.fileno())
            data = data[:keep]
        records, problems = parse_lines(data, self.path)
        for problem in problems:
            self.log(f"warning: {problem}")
        unknown = [r for r in records if r["item"] not in study.items]
        if unknown:
            self.log(
                f"warning: {self.path}: {len(unknown)} ratings of items this study does not have; ignored"
            )
        self.ratings: dict[str, dict[str, int]] = {}  # rater → {item: score}
        for (rater, item), record in effective(records).items():
            if item in study.items:
                self.ratings.setdefault(rater, {})[item] = record["score"]
        self.lines = len(records)
        fsync_dir(study.root)

    def _take_lock(self):
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock, the user must not start two servers
            return
        try:
            fcntl.flock(self.handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.handle.close()
            raise StudyError(f"{self.path}: in use by another hmh-train study serve; stop it first") from None

    def add(self, rater: str, item: str, score: int) -> int | None:
        """Append and fsync one rating; returns the score it replaced (None if new)."""
        with self.lock:
            previous = self.ratings.get(rater, {}).get(item)
            record = {"time": _now(), "rater": rater, "item": item, "score": score}
            if previous is not None:
                record["replaces"] = previous
            self.handle.write((json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8"))
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.ratings.setdefault(rater, {})[item] = score
            self.lines += 1
        if previous is not None:
            self.log(
                f"rater {rater!r} scored item {item} again: {previous} → {score} (the new score replaces it)"
            )
        return previous

    def rated(self, rater: str) -> set:
        """The items ``rater`` has scored."""
        with self.lock:
            return set(self.ratings.get(rater, ()))

    def counts(self) -> tuple[int, int]:
        """(ratings, raters) currently stored."""
        with self.lock:
            return sum(map(len, self.ratings.values())), len(self.ratings)

    def close(self):
        with self.lock:
            if not self.handle.closed:
                self.handle.close()
