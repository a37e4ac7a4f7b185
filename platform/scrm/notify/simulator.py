"""A local SMS gateway for development and tests: ``POST /send`` with the gateway's JSON is kept
and answered ``{"id": …}``; ``GET /messages`` lists what arrived; ``DELETE /messages`` clears.
``?fail=N`` on the URL makes the next N sends answer 503 (to watch the outbox retry)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class SimulatorState:
    def __init__(self):
        self.messages: list[dict] = []
        self.failures = 0
        self.lock = threading.Lock()


def make_server(host: str = "127.0.0.1", port: int = 0, echo=None) -> ThreadingHTTPServer:
    state = SimulatorState()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def _answer(self, status: int, body) -> None:
            data = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            url = urlparse(self.path)
            if url.path != "/send":
                return self._answer(404, {"error": "not found"})
            fail = parse_qs(url.query).get("fail")
            length = int(self.headers.get("Content-Length") or 0)
            try:
                message = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                return self._answer(400, {"error": "not JSON"})
            with state.lock:
                if fail and state.failures < int(fail[0]):
                    state.failures += 1
                    return self._answer(503, {"error": "simulated outage"})
                message["id"] = f"sim-{len(state.messages) + 1}"
                message["authorization"] = self.headers.get("Authorization")
                state.messages.append(message)
            if echo:
                echo(message)
            return self._answer(200, {"id": message["id"]})

        def do_GET(self):
            if urlparse(self.path).path != "/messages":
                return self._answer(404, {"error": "not found"})
            with state.lock:
                return self._answer(200, list(state.messages))

        def do_DELETE(self):
            with state.lock:
                state.messages.clear()
                state.failures = 0
            return self._answer(200, {})

    server = ThreadingHTTPServer((host, port), Handler)
    server.state = state
    return server


def serve(host: str, port: int, echo=None) -> None:
    server = make_server(host, port, echo)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
