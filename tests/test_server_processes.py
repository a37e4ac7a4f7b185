"""Two real server processes on one database: a publish made through one is served by the other
on its next request, without a restart (the revision counter at work)."""

import http.cookiejar
import re
import urllib.error
import urllib.request

import pytest
from support import Server


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
