"""A loopback HTTP mirror for the download tests (127.0.0.1 only), with knobs for hostile answers."""
from __future__ import annotations

import hashlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class Handler(BaseHTTPRequestHandler):
    """Serves server.files (name -> Path or bytes) with Range and If-Range support.

    Knobs on the server: status forces a code; ranges=False ignores Range; validators is "etag", "weak",
    "last_modified" or None (which validator the answers carry); cut/cuts close the first `cuts` responses after
    `cut` body bytes; delay sleeps after each 64 KiB; trickle=(seconds, for_s) sends one byte per `seconds` for
    `for_s` seconds, then closes; hold sleeps that long before answering at all; shape(handler, data, start)
    replaces the whole answer (fuzzing)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        srv = self.server
        name = self.path.rsplit("/", 1)[-1]
        srv.log.append((name, self.headers.get("Range")))
        srv.if_range.append(self.headers.get("If-Range"))
        if srv.hold:
            time.sleep(srv.hold)
        if srv.status:
            return self._plain(srv.status, b"service unavailable")
        body = srv.files.get(name)
        if body is None:
            return self._plain(404, b"not found")
        data = body.read_bytes() if isinstance(body, Path) else body
        validator = self._validator(data)
        rng, cond = self.headers.get("Range"), self.headers.get("If-Range")
        start = 0
        if rng and srv.ranges and (cond is None or cond == validator):
            start = int(rng.split("=")[1].split("-")[0])
        if srv.shape is not None:
            return srv.shape(self, data, start)
        if start >= len(data) and start:
            return self._plain(416, b"")
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self._validator_header(validator)
        self.send_header("Content-Type", srv.content_type)
        self.send_header("Content-Length", str(len(data) - start))
        self.send_header("Connection", "close")
        self.end_headers()
        self.send_body(data, start)

    def send_body(self, data: bytes, start: int) -> None:
        srv = self.server
        limit = len(data)
        if srv.cut is not None and srv.cuts > 0:
            srv.cuts -= 1
            limit = min(limit, start + srv.cut)
        try:
            if srv.trickle:
                every, total = srv.trickle
                ends = time.monotonic() + total
                pos = start
                while pos < limit and time.monotonic() < ends:
                    self.wfile.write(data[pos:pos + 1])
                    self.wfile.flush()
                    pos += 1
                    time.sleep(every)
            else:
                for pos in range(start, limit, 1 << 16):
                    self.wfile.write(data[pos:min(pos + (1 << 16), limit)])
                    if srv.delay:
                        time.sleep(srv.delay)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True

    def _validator(self, data: bytes) -> str | None:
        mode = self.server.validators
        if mode is None:
            return None
        key = hashlib.sha256(data).hexdigest()[:16]
        if mode == "last_modified":
            return self.server.modified.setdefault(key, time.strftime(
                "%a, %d %b %Y %H:%M:%S GMT", time.gmtime(1_700_000_000 + len(self.server.modified) * 60)))
        return f'W/"{key}"' if mode == "weak" else f'"{key}"'

    def _validator_header(self, validator: str | None) -> None:
        if validator is not None:
            kind = "Last-Modified" if self.server.validators == "last_modified" else "ETag"
            self.send_header(kind, validator)

    def _plain(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True


def start_server() -> ThreadingHTTPServer:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.files, srv.log, srv.if_range, srv.status, srv.ranges = {}, [], [], None, True
    srv.cut, srv.cuts, srv.delay, srv.content_type = None, 0, 0.0, "application/octet-stream"
    srv.validators, srv.modified, srv.trickle, srv.hold, srv.shape = "etag", {}, None, 0.0, None
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/models"
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def stop_server(srv: ThreadingHTTPServer) -> None:
    srv.shutdown()
    srv.server_close()


def within(seconds: float, call, *args, **kwargs):
    """(finished, result or exception) of `call` run in a thread for at most `seconds` (a hang fails, not blocks)."""
    box: list = []

    def run():
        try:
            box.append((True, call(*args, **kwargs)))
        except BaseException as err:  # noqa: BLE001 - handed to the test
            box.append((False, err))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if not box:
        return None
    return box[0]
