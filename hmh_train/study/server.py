"""``hmh-train study serve``: the raters' web app (standard library ``http.server``, one thread
per connection) over a study folder.

Routes (nothing else is served; ``study.json`` never is):

- ``GET /`` (also ``/index.html``), ``/app.js``, ``/app.css``: the page (``study/static/``).
- ``GET /api/study`` → ``{"instructions": str, "total": n, "scale": {"1": "bad", …}}``.
- ``GET /api/next?rater=NAME`` → ``{"item": id | null, "image": "/images/<id>.png" | null,
  "done": k, "total": n}``: the first item of the rater's own order not scored yet.
- ``POST /api/ratings`` with ``{"rater": str, "item": str, "score": 1..5}`` → 200
  ``{"stored": true, "replaced": previous score | null, "done": k, "total": n}`` once the
  score is fsynced; 400 ``{"error": message}`` for malformed input.
- ``GET /images/<item id>.png``: an item's picture (only ids of the study).

Method and sample names never leave the server.
"""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import socket
import sys
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlsplit

from hmh_train.study.folder import Study, StudyError, load_study, rater_order
from hmh_train.study.store import BadRating, RatingStore, check_rater, check_rating

MAX_BODY = 4096
IMAGE_URL = re.compile(r"/images/([0-9a-f]{12})\.png")
SCALE = {"1": "bad", "2": "poor", "3": "fair", "4": "good", "5": "excellent"}
STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/app.css": ("app.css", "text/css; charset=utf-8"),
}
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; object-src 'none'",
}


@dataclass(frozen=True)
class ServeConfig:
    """Settings of ``hmh-train study serve`` (see its ``--help``)."""

    study: str
    host: str = "127.0.0.1"
    port: int = 8000
    verbose: bool = False


def static_files() -> dict:
    """{name: bytes} of the page's files, read once."""
    folder = resources.files("hmh_train.study") / "static"
    return {name: (folder / name).read_bytes() for name, _ in set(STATIC.values())}


class StudyServer(ThreadingHTTPServer):
    """An HTTP server holding the study, its rating store and the page's files."""

    daemon_threads = True
    request_queue_size = 128  # many raters at once; the default 5 makes the kernel reset connections

    def __init__(self, address, study: Study, store: RatingStore, log=print, verbose=False):
        self.study, self.store, self.log, self.verbose = study, store, log, verbose
        self.files = static_files()
        self.order_of = functools.lru_cache(maxsize=4096)(lambda rater: rater_order(study, rater))
        super().__init__(address, StudyHandler)

    def next_for(self, rater: str) -> dict:
        """The ``/api/next`` answer for ``rater``."""
        done = self.store.rated(rater)
        item = next((i for i in self.order_of(rater) if i not in done), None)
        return {
            "item": item,
            "image": None if item is None else f"/images/{item}.png",
            "done": len(done),
            "total": len(self.study.items),
        }


class StudyHandler(BaseHTTPRequestHandler):
    """Request handler of :class:`StudyServer` (routes in the module docstring)."""

    server_version = "hmh-study"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = 120  # seconds an idle (keep-alive) connection may hold its thread

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        if self.server.verbose:
            self.server.log(f"{self.address_string()} {format % args}")

    def send(self, status: int, body: bytes, ctype: str, cache: str = "no-store"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache)
        for key, value in HEADERS.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, obj):
        self.send(
            status, json.dumps(obj, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8"
        )

    def fail(self, status: int, message: str):
        self.send_json(status, {"error": message})

    def do_GET(self):  # noqa: N802 (http.server's naming)
        url = urlsplit(self.path)
        if url.path in STATIC:
            name, ctype = STATIC[url.path]
            return self.send(200, self.server.files[name], ctype)
        if url.path == "/api/study":
            return self.send_json(
                200,
                {
                    "instructions": self.server.study.instructions,
                    "total": len(self.server.study.items),
                    "scale": SCALE,
                },
            )
        if url.path == "/api/next":
            try:
                query = parse_qs(url.query, keep_blank_values=True, max_num_fields=8)
            except ValueError:
                return self.fail(400, "malformed query")
            if "rater" not in query:
                return self.fail(400, "rater missing: ask for /api/next?rater=NAME")
            try:
                rater = check_rater(query["rater"][0])
            except BadRating as exc:
                return self.fail(400, str(exc))
            return self.send_json(200, self.server.next_for(rater))
        match = IMAGE_URL.fullmatch(url.path)
        if match and match.group(1) in self.server.study.items:
            try:
                with open(self.server.study.image_path(match.group(1)), "rb") as handle:
                    data = handle.read()
            except OSError:
                return self.fail(500, "image unreadable on the server")
            return self.send(200, data, "image/png", cache="private, max-age=86400")
        return self.fail(404, "not found")

    do_HEAD = do_GET

    def read_json(self):
        """The request body parsed as JSON; BadRating (→ 400) when it is not."""
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.close_connection = True
            raise BadRating("a JSON body with a Content-Length header is required")
        if int(length) > MAX_BODY:
            self.close_connection = True
            raise BadRating(f"body larger than {MAX_BODY} bytes")
        try:
            return json.loads(self.rfile.read(int(length)).decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise BadRating("body is not valid JSON") from None

    def do_POST(self):  # noqa: N802
        if urlsplit(self.path).path != "/api/ratings":
            self.close_connection = True
            return self.fail(404, "not found")
        try:
            rater, item, score = check_rating(self.read_json(), self.server.study)
        except BadRating as exc:
            return self.fail(400, str(exc))
        try:
            previous = self.server.store.add(rater, item, score)
        except OSError as exc:
            self.server.log(f"error: cannot write {self.server.store.path}: {exc}")
            return self.fail(500, "the server could not save the score; tell the study's organiser")
        done = len(self.server.store.rated(rater))
        self.send_json(
            200, {"stored": True, "replaced": previous, "done": done, "total": len(self.server.study.items)}
        )


def open_server(study_dir, host: str = "127.0.0.1", port: int = 0, log=print, verbose=False) -> StudyServer:
    """A bound (not yet serving) :class:`StudyServer` over ``study_dir``; StudyError (one line)
    for a bad folder, a study already served or an address that cannot be bound."""
    study = load_study(study_dir)
    store = RatingStore(study, log=log)
    try:
        return StudyServer((host, port), study, store, log=log, verbose=verbose)
    except OSError as exc:
        store.close()
        raise StudyError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --port or --host"
        ) from None
    except BaseException:
        store.close()
        raise


def lan_address() -> str:
    """This machine's address on its default route (no packet is sent), else its host name."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.255.255.255", 1))
            return probe.getsockname()[0]
    except OSError:
        return socket.gethostname()


def page_url(server: StudyServer) -> str:
    host, port = server.server_address[:2]
    shown = lan_address() if host in ("0.0.0.0", "::") else host
    return f"http://{shown}:{port}/"


def _stop(signum, frame):
    raise KeyboardInterrupt


def serve(cfg: ServeConfig, log=None) -> dict:
    """Serve the study until Ctrl-C or SIGTERM; returns {"ratings", "raters"} at the end."""
    log = log or functools.partial(print, file=sys.stderr, flush=True)
    server = open_server(cfg.study, cfg.host, cfg.port, log=log, verbose=cfg.verbose)
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):  # SIGINT too: ignored when started with &
            previous[signum] = signal.signal(signum, _stop)
    ratings, raters = server.store.counts()
    print(
        f"study {os.path.normpath(cfg.study)}: {len(server.study.items)} images; {ratings} ratings "
        f"from {raters} raters so far",
        flush=True,
    )
    print(
        f"serving on {page_url(server)}  (Ctrl-C stops; every score is on disk as soon as it is given)",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        server.store.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    ratings, raters = server.store.counts()
    print(
        f"stopped: {ratings} ratings from {raters} raters in "
        f"{os.path.join(os.path.normpath(cfg.study), 'ratings.jsonl')}",
        flush=True,
    )
    return {"ratings": ratings, "raters": raters}
