"""``/healthz`` reports the database and the live definitions revision."""


def test_healthz(anon):
    r = anon.get("/healthz")
    assert r.status_code == 200
    assert r.json == {"status": "ok", "database": "ok", "scheduler": "off", "revision": 1}


def test_healthz_revision_follows_publishes(anon, api):
    doc = api.get("/api/v1/definitions/role/account_manager").json
    doc["description"] = "客户经理（已修改）"
    api.put("/api/v1/definitions/role/account_manager", json=doc)
    api.post("/api/v1/definitions/role/account_manager/publish")
    assert anon.get("/healthz").json["revision"] == 2


def test_healthz_when_the_database_is_gone(tmp_path):
    from support import make_app

    app = make_app(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    (tmp_path / "missing").chmod(0o500)
    r = app.test_client().get("/healthz")
    assert r.status_code in (200, 503)
    assert set(r.json) == {"status", "database", "scheduler", "revision"}
