"""Two real server processes on one database: a publish made through one is served by the other
on its next request, without a restart (the revision counter at work)."""

import http.cookiejar
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, url: str):
        self.port = free_port()
        env = {**os.environ, "SCRM_DATABASE_URL": url, "SCRM_SECRET_KEY": "processes", "SCRM_LOCALE": "en"}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from scrm.cli import main; main()", "run", "--port", str(self.port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                urllib.request.urlopen(self.base + "/healthz", timeout=1)
                return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server on {self.port} did not start")

    def call(self, method: str, path: str, token: str, body=None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.base + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture
def servers(database, seed):
    url, template = database
    first, second = Server(url), Server(url)
    yield first, second, template.admin_token
    first.stop()
    second.stop()


def browser_login(server: Server):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(server.base + "/login").read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode({"csrf_token": token, "username": "admin", "password": "Secret-pass-123"}).encode()
    opener.open(server.base + "/login", data=data)
    return opener


def test_publish_in_one_process_is_served_by_the_other(servers, seed):
    first, second, token = servers
    status, before = second.call("GET", f"/api/v1/records/customer/{seed['c1']}", token)
    assert status == 200 and "wechat_id" not in before
    doc = first.call("GET", "/api/v1/definitions/entity/customer", token)[1]
    doc["fields"].append({"name": "wechat_id", "type": "string", "label": {"zh-CN": "微信号", "en": "WeChat ID"}})
    assert first.call("PUT", "/api/v1/definitions/entity/customer", token, doc)[0] == 200
    status, published = first.call("POST", "/api/v1/definitions/entity/customer/publish", token)
    assert status == 200, published

    status, after = second.call(
        "PATCH", f"/api/v1/records/customer/{seed['c1']}", token, {"wechat_id": "wx_1", "_version": before["version"]}
    )
    assert status == 200 and after["wechat_id"] == "wx_1"
    assert second.call("GET", "/healthz", token)[1]["revision"] == published["revision"]
    opener = browser_login(second)
    form = opener.open(f"{second.base}/e/customer/{seed['c1']}/edit").read().decode()
    assert 'name="wechat_id"' in form and 'value="wx_1"' in form
