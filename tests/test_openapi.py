"""The OpenAPI document is generated from the published entities and follows them."""


def test_openapi_lists_every_entity(api):
    doc = api.get("/api/openapi.json").json
    assert doc["openapi"].startswith("3.")
    for entity in ("customer", "employee", "org_unit", "account", "trade", "security"):
        assert f"/api/v1/records/{entity}" in doc["paths"]
        assert f"/api/v1/records/{entity}/{{record_id}}" in doc["paths"]
    customer = doc["components"]["schemas"]["Customer"]["properties"]
    assert customer["asset_tier"]["enum"] == ["mass", "potential", "wealth", "hnw", "uhnw"]
    assert customer["total_assets"]["readOnly"] is True
    assert "total_assets" not in doc["components"]["schemas"]["CustomerInput"]["properties"]
    assert set(doc["components"]["schemas"]["CustomerInput"]["required"]) >= {"customer_no", "name", "id_number"}
    assert doc["components"]["schemas"]["Error"]["required"] == ["error"]


def test_openapi_needs_authentication(anon):
    r = anon.get("/api/openapi.json")
    assert r.status_code == 401 and r.json["error"]["code"] == "unauthorized"


def test_openapi_shows_what_the_role_may_use(am_api, api):
    """The account manager's document: no delete, masked fields as masked text, read-only fields
    read-only."""
    doc = am_api.get("/api/openapi.json").json
    full = api.get("/api/openapi.json").json
    customer = doc["paths"]["/api/v1/records/customer/{record_id}"]
    assert "patch" in customer and "delete" not in customer
    assert "delete" in full["paths"]["/api/v1/records/customer/{record_id}"]
    props = doc["components"]["schemas"]["Customer"]["properties"]
    assert props["id_number"]["description"] == "masked for you"
    assert props["risk_level"]["readOnly"] is True
    assert "risk_level" not in doc["components"]["schemas"]["CustomerInput"]["properties"]
    assert "CustomerInput" in full["components"]["schemas"]
