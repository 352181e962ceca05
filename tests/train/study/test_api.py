"""The rating server's JSON API over real HTTP on loopback: bad input is refused with 400/404
and a message, nothing outside the app and the study's images is served, method and sample
names never reach a client, each rater gets their own resumable order, and 20 raters posting
50 scores each at the same time lose none."""

from __future__ import annotations

import json
import threading
from urllib.parse import quote

import pytest

from hmh_train.study.folder import load_study, rater_order
from hmh_train.study.store import effective, parse_lines
from tests.train.study.conftest import write_hand_study
from tests.train.study.http_client import get_json, post_rating, request


@pytest.fixture
def served(fresh_study, live_server):
    return fresh_study, live_server(fresh_study)


@pytest.mark.parametrize(
    "score, why",
    [
        (0, "score must be an integer from 1 to 5"),
        (6, "score must be an integer from 1 to 5"),
        ("x", "score must be an integer from 1 to 5"),
        ("3", "score must be an integer from 1 to 5"),
        (3.5, "score must be an integer from 1 to 5"),
        (True, "score must be an integer from 1 to 5"),
        (None, "score must be an integer from 1 to 5"),
    ],
)
def test_bad_scores_are_refused_with_400_and_nothing_is_stored(served, score, why):
    study_dir, server = served
    item = sorted(load_study(study_dir).items)[0]
    status, answer = post_rating(server.url, "ann", item, score)
    assert (status, answer) == (400, {"error": why})
    assert (study_dir / "ratings.jsonl").read_bytes() == b""


@pytest.mark.parametrize(
    "payload, why",
    [
        ({"rater": "ann", "item": "000000000000", "score": 3}, "unknown item"),
        ({"rater": "ann", "item": "../study.json", "score": 3}, "unknown item"),
        ({"rater": "ann", "score": 3}, "unknown item"),
        ({"rater": "", "item": "ITEM", "score": 3}, "rater must not be empty"),
        ({"rater": "   ", "item": "ITEM", "score": 3}, "rater must not be empty"),
        ({"rater": "a" * 65, "item": "ITEM", "score": 3}, "rater must be at most 64 printable characters"),
        ({"rater": "a\nb", "item": "ITEM", "score": 3}, "rater must be at most 64 printable characters"),
        ({"rater": 7, "item": "ITEM", "score": 3}, "rater must be a string"),
        ({"rater": "ann", "item": "ITEM", "score": 3, "method": "I_d"}, "unknown field 'method'"),
        ([1, 2, 3], 'body must be a JSON object {"rater": str, "item": str, "score": 1..5}'),
    ],
)
def test_malformed_ratings_are_refused_with_a_message(served, payload, why):
    study_dir, server = served
    item = sorted(load_study(study_dir).items)[0]
    if isinstance(payload, dict) and payload.get("item") == "ITEM":
        payload["item"] = item
    status, body, _ = request(server.url, "POST", "/api/ratings", payload)
    assert (status, json.loads(body)) == (400, {"error": why})
    assert (study_dir / "ratings.jsonl").read_bytes() == b""


def test_broken_bodies_are_refused(served):
    _, server = served
    status, body, _ = request(server.url, "POST", "/api/ratings", raw=b'{"rater": "ann", "item"')
    assert (status, json.loads(body)) == (400, {"error": "body is not valid JSON"})
    status, body, _ = request(server.url, "POST", "/api/ratings", raw=b"\xff\xfe{}")
    assert (status, json.loads(body)) == (400, {"error": "body is not valid JSON"})
    status, body, _ = request(server.url, "POST", "/api/ratings", raw=b"x" * 5000)
    assert (status, json.loads(body)) == (400, {"error": "body larger than 4096 bytes"})
    status, body, _ = request(server.url, "POST", "/api/ratings")
    assert (status, json.loads(body)) == (
        400,
        {"error": "a JSON body with a Content-Length header is required"},
    )
    status, body, _ = request(server.url, "POST", "/api/next", {"rater": "ann"})
    assert (status, json.loads(body)) == (404, {"error": "not found"})


@pytest.mark.parametrize(
    "query, status, why",
    [
        ("", 400, "rater missing: ask for /api/next?rater=NAME"),
        ("?rater=", 400, "rater must not be empty"),
        ("?rater=%20", 400, "rater must not be empty"),
        ("?rater=%0A", 400, "rater must not be empty"),
        ("?rater=" + "a" * 65, 400, "rater must be at most 64 printable characters"),
        ("?rater=a%07b", 400, "rater must be at most 64 printable characters"),
        ("?rater=ann", 200, None),
    ],
)
def test_next_needs_a_valid_rater(served, query, status, why):
    """The same messages as POST /api/ratings gives for the same names."""
    _, server = served
    code, answer = get_json(server.url, "/api/next" + query)
    assert code == status
    assert answer.get("error") == why


@pytest.mark.parametrize(
    "path",
    [
        "/images/../study.json",
        "/images/%2e%2e/study.json",
        "/images/..%2Fstudy.json",
        "/images/%2E%2E%2Fstudy.json",
        "/study.json",
        "/ratings.jsonl",
        "/instructions.txt",
        "/images/",
        "/images/..",
        "/images/000000000000.png",
        "/images/{item}.png/../../study.json",
        "/images/{item}.PNG",
        "/images/{item}.png%00",
        "/images//{item}.png",
        "/..%2f..%2fsetup.cfg",
        "/static/app.js",
        "/app.js/../study.json",
        "//etc/passwd",
        "/images/{item}",
    ],
)
def test_only_the_app_and_the_study_images_are_served(served, path):
    study_dir, server = served
    item = sorted(load_study(study_dir).items)[0]
    (study_dir / "ratings.jsonl").write_text("")
    status, body, _ = request(server.url, "GET", path.format(item=item))
    assert status == 404
    assert json.loads(body) == {"error": "not found"}


def test_images_and_pages_are_served(served):
    study_dir, server = served
    study = load_study(study_dir)
    item = sorted(study.items)[0]
    status, body, headers = request(server.url, "GET", f"/images/{item}.png")
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert body == (study_dir / "images" / f"{item}.png").read_bytes()
    for path, kind in (
        ("/", "text/html"),
        ("/index.html", "text/html"),
        ("/app.js", "text/javascript"),
        ("/app.css", "text/css"),
    ):
        status, body, headers = request(server.url, "GET", path)
        assert status == 200 and headers["Content-Type"].startswith(kind) and body
        assert headers["X-Content-Type-Options"] == "nosniff"


def test_a_raters_session_follows_their_order_and_never_reveals_methods_or_samples(served):
    study_dir, server = served
    study = load_study(study_dir)
    secrets = set(study.methods) | set(study.samples) | {"runA", "runB", "I_d"}
    seen_bodies = []
    status, info = get_json(server.url, "/api/study")
    assert status == 200 and info["total"] == len(study.items) == 6
    seen_bodies.append(json.dumps(info))
    order = []
    for k in range(len(study.items)):
        status, nxt = get_json(server.url, "/api/next?rater=" + quote("Zoë K."))
        assert status == 200 and nxt["done"] == k and nxt["total"] == 6
        assert nxt["image"] == f"/images/{nxt['item']}.png"
        order.append(nxt["item"])
        status, answer = post_rating(server.url, "Zoë K.", nxt["item"], 1 + k % 5)
        assert status == 200 and answer == {"stored": True, "replaced": None, "done": k + 1, "total": 6}
        seen_bodies += [json.dumps(nxt), json.dumps(answer)]
    assert get_json(server.url, "/api/next?rater=Zo%C3%AB%20K.")[1] == {
        "item": None,
        "image": None,
        "done": 6,
        "total": 6,
    }
    assert order == rater_order(study, "Zoë K.") and sorted(order) == sorted(study.items)
    other = [get_json(server.url, f"/api/next?rater=r{k}")[1]["item"] for k in range(8)]
    assert len(set(other)) > 1, "every rater got the same first picture"
    for path in ("/", "/app.js", "/app.css"):
        seen_bodies.append(request(server.url, "GET", path)[1].decode())
    for body in seen_bodies:
        assert not [s for s in secrets if s in body]


def test_a_second_score_replaces_the_first_and_is_logged(served):
    study_dir, server = served
    item = sorted(load_study(study_dir).items)[2]
    assert post_rating(server.url, "ann", item, 2)[1]["replaced"] is None
    status, answer = post_rating(server.url, "ann", item, 5)
    assert status == 200 and answer["replaced"] == 2 and answer["done"] == 1
    records, problems = parse_lines((study_dir / "ratings.jsonl").read_bytes())
    assert problems == [] and [r["score"] for r in records] == [2, 5] and records[1]["replaces"] == 2
    assert {k: r["score"] for k, r in effective(records).items()} == {("ann", item): 5}
    assert any("scored item" in line and "2 → 5" in line for line in server.logs)


def test_a_second_server_on_the_same_study_is_refused(served):
    from hmh_train.study.folder import StudyError
    from hmh_train.study.server import open_server

    study_dir, _ = served
    with pytest.raises(StudyError, match="in use by another hmh-train study serve"):
        open_server(study_dir, "127.0.0.1", 0, log=lambda line: None)


def test_twenty_concurrent_raters_posting_fifty_scores_each_lose_none(tmp_path, live_server):
    study = write_hand_study(tmp_path / "study", samples=25, methods=("I_d", "ours"))
    server = live_server(tmp_path / "study")
    items = sorted(study["items"])
    assert len(items) == 50
    expected = {(f"rater{r:02d}", item): 1 + (r + k) % 5 for r in range(20) for k, item in enumerate(items)}
    failures, start = [], threading.Barrier(20)

    def rate(r):
        start.wait()
        name = f"rater{r:02d}"
        for item in items[r:] + items[:r]:  # each thread in its own order
            status, answer = post_rating(server.url, name, item, expected[(name, item)])
            if status != 200 or not answer["stored"]:
                failures.append((name, item, status, answer))

    threads = [threading.Thread(target=rate, args=(r,)) for r in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    records, problems = parse_lines((tmp_path / "study" / "ratings.jsonl").read_bytes())
    assert problems == [] and len(records) == 1000
    assert {k: r["score"] for k, r in effective(records).items()} == expected
    for r in range(20):
        assert get_json(server.url, f"/api/next?rater=rater{r:02d}")[1] == {
            "item": None,
            "image": None,
            "done": 50,
            "total": 50,
        }
