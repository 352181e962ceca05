"""A tiny real-HTTP client for the study tests (``http.client``, one connection per call)."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit


def request(
    url: str,
    method: str = "GET",
    path: str = "/",
    body=None,
    raw: bytes | None = None,
    headers: dict | None = None,
) -> tuple[int, bytes, dict]:
    """(status, body bytes, headers) of one request; ``path`` is sent exactly as given."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        conn.putrequest(method, path, skip_accept_encoding=True)
        for key, value in (headers or {}).items():
            conn.putheader(key, value)
        if data is not None and "Content-Length" not in (headers or {}):
            conn.putheader("Content-Length", str(len(data)))
        conn.endheaders(data)
        response = conn.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        conn.close()


def get_json(url: str, path: str):
    status, body, _ = request(url, "GET", path)
    return status, json.loads(body)


def post_rating(url: str, rater, item, score):
    status, body, _ = request(url, "POST", "/api/ratings", {"rater": rater, "item": item, "score": score})
    return status, json.loads(body)
