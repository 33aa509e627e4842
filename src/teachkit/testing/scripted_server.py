"""What the fake Gemini and OpenAI servers share: a loopback HTTP server whose replies a test scripts.

A reply comes from, in order: the fault every request meets (`fault`, a server with a bad key or a wrong model
name), the injected random failure (`failure_rate`), the replies queued for requests that contain a text
(`reply_to`), the queue (`push`), the reply function (`reply_fn`), or the protocol's default (an echo of the last
user message). Every request is recorded. A `Reply` may delay, hang (accept the request and never answer, until the
server stops), or carry any status and body, so that the real SDKs meet real 429s, 503s, timeouts, malformed and
empty replies.

Concurrent requests arrive in any order: a test that sends several at once and cares which gets which reply keys
them by content with `reply_to`, never by their order in `push`.
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class LoopbackHTTPServer(ThreadingHTTPServer):
    # The default backlog of 5 drops connection attempts when a client opens dozens at once (the SYN is
    # retransmitted a second later): the fake must not be the slowest part of a concurrency test.
    request_queue_size = 256
    daemon_threads = True
    # Idle keep-alive connections hold a handler thread each; closing must not wait for clients to leave.
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that cancelled its request (a run stopped by a fault) closed the connection under the reply.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list -> JSON; str/bytes -> sent as is
    delay_s: float | None = None  # None: the server's latency
    hang: bool = False
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    model: str | None = None

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)


ReplyLike = Reply | str | dict
ReplyFn = Callable[[RecordedRequest], ReplyLike]


class ScriptedServer:
    """Subclasses say which paths they serve (`route`) and how replies look (`render`, `default_reply`)."""

    def __init__(
        self,
        *,
        latency_s: float = 0.0,
        failure_rate: float = 0.0,
        failure_statuses: tuple[int, ...] = (429, 503),
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        self.latency_s = latency_s
        self.failure_rate = failure_rate
        self.failure_statuses = failure_statuses
        self.reply_fn: ReplyFn | None = None
        self.fault: ReplyFn | None = None
        self.requests: list[RecordedRequest] = []
        self.injected_failures = 0
        self.seed = seed
        self._queue: deque[ReplyLike] = deque()
        self._keyed: list[tuple[str, deque[ReplyLike]]] = []
        self._attempts: dict[str, int] = {}
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._httpd = LoopbackHTTPServer((host, port), self._handler_class())
        self._thread: threading.Thread | None = None

    # --- scripting -------------------------------------------------------------------------------------------

    def push(self, *replies: ReplyLike) -> None:
        """Queue replies, answered in order before the reply function or the default."""
        with self._lock:
            self._queue.extend(replies)

    def reply_to(self, contains: str, *replies: ReplyLike) -> None:
        """Queue replies for the requests whose prompt (`prompt_text`) contains `contains`, in their order."""
        with self._lock:
            self._keyed.append((contains, deque(replies)))

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self._keyed.clear()
            self.requests.clear()
            self._attempts.clear()
            self.injected_failures = 0

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    # --- protocol (subclasses) -------------------------------------------------------------------------------

    def route(self, method: str, path: str) -> str | None | bool:
        """The model named by a served path (or True when it names none); None/False: not served (404)."""
        raise NotImplementedError

    def render(self, reply: ReplyLike, request: RecordedRequest) -> Reply:
        raise NotImplementedError

    def failure(self, status: int) -> Reply:
        raise NotImplementedError

    def prompt_text(self, request: RecordedRequest) -> str:
        """What `reply_to` matches: the whole request body here, the last user message where a protocol says."""
        return json.dumps(request.body)

    def not_found(self, path: str) -> Reply:
        return Reply(404, {"error": {"code": 404, "message": f"no route for {path}", "status": "NOT_FOUND"}})

    # --- serving ---------------------------------------------------------------------------------------------

    def precheck(self, request: RecordedRequest) -> Reply | None:
        """A reply that comes before any script (a server refusing an option); None to go on."""
        return None

    def _next_reply(self, request: RecordedRequest) -> Reply:
        if self.fault is not None:
            return self.render(self.fault(request), request)
        refused = self.precheck(request)
        if refused is not None:
            return refused
        prompt = self.prompt_text(request) if self._keyed else ""
        with self._lock:
            if self.failure_rate:
                # Drawn from (seed, request, attempt) rather than from one stream, so that which request fails
                # how often does not depend on the order in which concurrent requests arrive.
                body = json.dumps(request.body, sort_keys=True)
                attempt = self._attempts[body] = self._attempts.get(body, 0) + 1
                draw = random.Random(f"{self.seed}:{attempt}:{body}")
                if draw.random() < self.failure_rate:
                    self.injected_failures += 1
                    return self.failure(draw.choice(self.failure_statuses))
            keyed = next((queue for contains, queue in self._keyed if queue and contains in prompt), None)
            if keyed is not None:
                scripted = keyed.popleft()
            else:
                scripted = self._queue.popleft() if self._queue else None
        if scripted is None and self.reply_fn is not None:
            scripted = self.reply_fn(request)
        return self.render(scripted, request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body leave in two writes; with Nagle on, the body waits for the client's delayed ACK
            # (40 ms on Linux), which would cap a keep-alive connection near 25 requests per second.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except json.JSONDecodeError:
                    body = raw.decode("utf-8", "replace")
                path = self.path.split("?", 1)[0]
                routed = server.route(self.command, path)
                request = RecordedRequest(
                    self.command, self.path, dict(self.headers.items()), body,
                    model=routed if isinstance(routed, str) else None,
                )
                with server._lock:
                    server.requests.append(request)
                reply = server._next_reply(request) if routed else server.not_found(path)
                if reply.hang:
                    server._release.wait()
                    self.close_connection = True
                    return
                delay = server.latency_s if reply.delay_s is None else reply.delay_s
                if delay:
                    time.sleep(delay)
                if isinstance(reply.body, dict | list):
                    payload = json.dumps(reply.body).encode("utf-8")
                    content_type = "application/json; charset=UTF-8"
                elif isinstance(reply.body, bytes):
                    payload, content_type = reply.body, "application/octet-stream"
                else:
                    payload, content_type = str(reply.body or "").encode("utf-8"), "text/plain; charset=UTF-8"
                self.send_response(reply.status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            do_POST = _serve
            do_GET = _serve

        return Handler

    def start(self) -> ScriptedServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()  # hung handlers return and close their connections
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def word_count(text: str) -> int:
    """Token counts the fakes report: words, so tests can predict usage and cost."""
    return len(text.split())
