"""A small HTTP service whose health is set by its flags: the app `conductor demo` deploys.

Standard library only, so it runs with any Python 3.11+ and nothing installed. Each version of a
demo service is the same program with different flags, e.g. a bad release::

    python demo_app.py --service api --version v1.2.0 --error-rate 40 --latency-ms 80

``GET /healthz`` answers 200 once the app is ready (``--ready-delay``, ``--ready-file``), or never
(``--never-ready``). Every other path and method answers after ``--latency-ms`` (± jitter) with a
JSON echo of the request, or with a 500 for ``--error-rate`` percent of requests (all of them
after ``--fail-after`` seconds, or while ``--fail-file`` exists). ``--crash-after`` (seconds) or
``--crash-file`` (once that file exists) makes the process exit with code 3.
HTTP/1.1 keep-alive is on and Nagle is off, so a router in front can reuse connections.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class DemoConfig:
    def __init__(self, args: argparse.Namespace) -> None:
        self.service: str = args.service
        self.version: str = args.version
        self.error_rate: float = args.error_rate
        self.latency_s: float = args.latency_ms / 1000.0
        self.jitter_s: float = args.jitter_ms / 1000.0
        self.fail_after: float | None = args.fail_after
        self.never_ready: bool = args.never_ready
        self.fail_file: str | None = args.fail_file
        self.ready_at = time.monotonic() + args.ready_delay
        self.ready_file: str | None = args.ready_file
        self.started = time.monotonic()

    def failing(self) -> bool:
        if self.fail_after is not None and time.monotonic() - self.started >= self.fail_after:
            return True
        if self.fail_file is not None and os.path.exists(self.fail_file):
            return True
        return self.error_rate > 0 and random.random() * 100.0 < self.error_rate


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "conductor-demo"
    config: DemoConfig  # set on the class by main()

    def log_message(self, format: str, *args: object) -> None:
        """Access logs would dominate the log file; errors still go to stderr."""

    def _reply(self, status: int, payload: dict[str, object]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _read_body(self) -> bytes:
        """The request body, sent with a length or chunked (left unread, a chunked body would be parsed as
        the connection's next request)."""
        if "chunked" not in (self.headers.get("Transfer-Encoding") or "").lower():
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""
        parts = []
        while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
            parts.append(self.rfile.read(size))
            self.rfile.readline()  # the CRLF after each chunk
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass  # trailers, up to the empty line
        return b"".join(parts)

    def _handle(self) -> None:
        body = self._read_body()
        config = self.config
        if self.path.split("?")[0] == "/healthz":
            ready = not config.never_ready and time.monotonic() >= config.ready_at
            ready = ready and (config.ready_file is None or os.path.exists(config.ready_file))
            self._reply(200 if ready else 503, {"ready": ready, "version": config.version})
            return
        delay = config.latency_s + (random.uniform(-config.jitter_s, config.jitter_s) if config.jitter_s else 0)
        if delay > 0:
            time.sleep(delay)
        payload: dict[str, object] = {
            "service": config.service,
            "version": config.version,
            "method": self.command,
            "path": self.path,
            "bodyBytes": len(body),
            "bodyEcho": body[:256].decode("utf-8", "replace"),
            "forwardedFor": ", ".join(self.headers.get_all("X-Forwarded-For") or []) or None,  # lines are one list
            "headers": {k.lower(): v for k, v in self.headers.items() if k.lower().startswith("x-demo")},
        }
        if config.failing():
            self._reply(500, {**payload, "error": "injected failure"})
        else:
            self._reply(200, payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _handle


class DemoServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default of 5 refuses connections under a burst of load


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Conductor's demo service.")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--service", default=os.environ.get("CONDUCTOR_SERVICE", "demo"))
    parser.add_argument("--version", default=os.environ.get("CONDUCTOR_VERSION", "v0"))
    parser.add_argument("--error-rate", type=float, default=0.0, help="Percent of requests answered 500.")
    parser.add_argument("--latency-ms", type=float, default=5.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--fail-after", type=float, default=None, help="Fail every request after N s.")
    parser.add_argument("--fail-file", default=None, help="Fail every request while this file exists.")
    parser.add_argument("--crash-after", type=float, default=None, help="Exit with code 3 after N s.")
    parser.add_argument("--crash-file", default=None, help="Exit with code 3 once this file exists.")
    parser.add_argument("--ready-delay", type=float, default=0.0)
    parser.add_argument("--ready-file", default=None, help="Not ready until this file exists.")
    parser.add_argument("--never-ready", action="store_true")
    args = parser.parse_args(argv)

    Handler.config = DemoConfig(args)
    server = DemoServer((args.host, args.port), Handler)
    if args.crash_after is not None or args.crash_file is not None:

        def crash() -> None:
            if args.crash_after is not None:
                time.sleep(args.crash_after)
            while args.crash_file is not None and not os.path.exists(args.crash_file):
                time.sleep(0.05)
            print(f"{args.service} {args.version}: simulated crash", file=sys.stderr, flush=True)
            os._exit(3)

        threading.Thread(target=crash, daemon=True).start()
    print(f"{args.service} {args.version} listening on {args.host}:{args.port}", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever(poll_interval=0.2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
