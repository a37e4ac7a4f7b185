"""The designer's lifecycle through the API: drafts that may be invalid but cannot be published,
two designers on one draft, readable diffs, impact analysis before deactivating or renaming a
field, bundles from test to production, and an audit entry for every designer action."""

import copy

import pytest
import sqlalchemy as sa

PASSWORD = "Designer-2026-pw!"
WECHAT = {"name": "wechat_id", "type": "string", "max_length": 64, "label": {"zh-CN": "微信号", "en": "WeChat ID"}}


def entity(api, name: str = "customer") -> tuple[dict, str]:
    r = api.get(f"/api/v1/definitions/entity/{name}")
    assert r.status_code == 200
    return r.json, r.headers["ETag"]


def with_field(doc: dict, field: dict) -> dict:
    doc = copy.deepcopy(doc)
    doc["fields"].append(field)
    return doc


def audit_actions(app) -> list[tuple[str, str]]:
    from scrm.db import db
    from scrm.security.audit import AuditEntry

    with app.app_context():
        rows = db.session.execute(sa.select(AuditEntry.action, AuditEntry.detail).order_by(AuditEntry.id)).all()
        db.session.remove()
    return [(a, d or "") for a, d in rows]


@pytest.fixture
def second_designer(app, api):
    from scrm.db import db
    from scrm.security.users import create_user, issue_token

    with app.app_context():
        user = create_user("designer2", PASSWORD, ["designer"], "李设计")
        db.session.commit()
        token = issue_token(user, "tests")
        db.session.commit()
        db.session.remove()
    return type(api)(app.test_client(), token)  # conftest's ApiClient, with the second token


def test_an_invalid_draft_is_kept_but_cannot_be_published(api):
    doc, _etag = entity(api, "security")
    doc["fields"].append({"name": "Bad Name", "type": "string"})
    refused = api.put("/api/v1/definitions/entity/security", json=doc)
    assert refused.status_code == 422  # without allow_invalid, as before
    kept = api.put("/api/v1/definitions/entity/security?allow_invalid=1", json=doc)
    assert kept.status_code == 200, kept.json
    assert kept.json["valid"] is False
    [error] = [e for e in kept.json["errors"] if e["path"].startswith(f"$.fields[{len(doc['fields']) - 1}]")]
    assert error["code"].startswith("E-")
    draft = api.get("/api/v1/definitions/entity/security?status=draft")
    assert draft.json["fields"][-1]["name"] == "Bad Name"  # stored as written
    publish = api.post("/api/v1/definitions/entity/security/publish")
    assert publish.status_code == 422
    assert any(d["path"].startswith(f"$.fields[{len(doc['fields']) - 1}]") for d in publish.json["error"]["details"])
    assert api.get("/api/v1/definitions/entity/security").json["fields"][-1]["name"] != "Bad Name"


@pytest.mark.parametrize("body", [[1, 2], "text", {"kind": "form"}, {"name": "other"}])
def test_a_draft_that_is_not_an_object_is_never_kept(api, body):
    r = api.put("/api/v1/definitions/entity/security?allow_invalid=1", json=body)
    assert r.status_code in (400, 422) and r.json["error"]["message"]
    assert api.get("/api/v1/definitions/entity/security?status=draft").status_code == 404


def test_two_designers_on_the_same_draft_are_told_apart(api, second_designer):
    doc, _ = entity(api, "security")
    assert api.put("/api/v1/definitions/entity/security", json=doc).status_code == 200
    draft = api.get("/api/v1/definitions/entity/security?status=draft")
    etag = draft.headers["ETag"]
    mine = copy.deepcopy(draft.json)
    mine["label"] = {"zh-CN": "证券（甲）", "en": "Security A"}
    theirs = copy.deepcopy(draft.json)
    theirs["label"] = {"zh-CN": "证券（乙）", "en": "Security B"}
    first = second_designer.put("/api/v1/definitions/entity/security", json=theirs, headers={"If-Match": etag})
    assert first.status_code == 200, first.json
    stale = api.put("/api/v1/definitions/entity/security", json=mine, headers={"If-Match": etag})
    assert stale.status_code == 409  # same draft version number, different content: detected
    assert "designer2" in stale.json["error"]["message"]
    assert stale.json["error"]["current"]["etag"] == first.json["etag"]
    assert api.get("/api/v1/definitions/entity/security?status=draft").json["label"]["en"] == "Security B"
    again = api.put("/api/v1/definitions/entity/security", json=mine, headers={"If-Match": first.json["etag"]})
    assert again.status_code == 200


@pytest.mark.parametrize("header", ["abc", "3-", "3-xyz!", "-3"])
def test_a_malformed_if_match_is_a_400(api, header):
    doc, _ = entity(api, "security")
    r = api.put("/api/v1/definitions/entity/security", json=doc, headers={"If-Match": header})
    assert r.status_code == 400 and r.json["error"]["details"][0]["path"] == "If-Match"


def test_the_diff_names_what_changed_by_name(api):
    doc, _ = entity(api)
    doc = with_field(doc, WECHAT)
    doc["label"] = {**doc["label"], "en": "Client"}
    assert api.put("/api/v1/definitions/entity/customer", json=doc).status_code == 200
    changes = api.get("/api/v1/definitions/entity/customer/diff").json["changes"]
    by_path = {c["path"]: c for c in changes}
    assert by_path["$.fields[wechat_id]"]["op"] == "added"
    assert by_path["$.label.en"] == {"op": "changed", "path": "$.label.en", "old": "Customer", "new": "Client"}
    assert len(changes) == 2  # the other 60-odd fields are not reported as shifted
    versions = api.get("/api/v1/definitions/entity/customer/versions").json["items"]
    published = [v["version"] for v in versions if v["status"] == "published"][0]
    same = api.get(f"/api/v1/definitions/entity/customer/diff?from={published}&to=published").json
    assert same["changes"] == []


@pytest.mark.parametrize("query", ["from=x", "to=99"])
def test_a_diff_of_unknown_versions_is_refused(api, query):
    assert api.get(f"/api/v1/definitions/entity/customer/diff?{query}").status_code in (400, 404)


def test_a_field_used_elsewhere_cannot_be_deactivated_or_renamed(api):
    impact = api.get("/api/v1/definitions/entity/customer/fields/tenure_years/impact").json
    assert impact["allowed"] is False
    assert "alert/alr_open_anniversary" in impact["blocking"] and "form/customer_form" not in impact["blocking"]
    assert "form/customer_form" in impact["dependants"]  # it would only lose the field
    assert "alert/alr_open_anniversary" in impact["dependants"]
    assert all(p["path"].startswith("$") and p["message"] for p in impact["problems"])
    renamed = api.get("/api/v1/definitions/entity/customer/fields/tenure_years/impact?rename_to=years_with_us").json
    assert renamed["allowed"] is True  # old names keep resolving (previous_names)
    assert {"alert/alr_open_anniversary", "form/customer_form"} <= set(renamed["dependants"])
    taken = api.get("/api/v1/definitions/entity/customer/fields/tenure_years/impact?rename_to=name").json
    assert taken["allowed"] is False and taken["blocking"] == ["entity/customer"]

    doc, _ = entity(api)
    doc["fields"] = [f for f in doc["fields"] if f["name"] != "tenure_years"]
    r = api.put("/api/v1/definitions/entity/customer", json=doc)
    assert r.status_code == 200, r.json  # a draft may
    refused = api.post("/api/v1/definitions/entity/customer/publish")
    assert refused.status_code == 422
    error = refused.json["error"]
    assert error["code"] == "used_by_other_definitions"
    assert "alert/alr_open_anniversary" in error["dependants"] and "alert/alr_open_anniversary" in error["message"]
    assert any(d["path"].startswith("alert/alr_open_anniversary:$") for d in error["details"])
    assert any(f["name"] == "tenure_years" for f in entity(api)[0]["fields"])  # nothing changed


def test_an_unused_field_may_go(api):
    doc, _ = entity(api)
    assert api.put("/api/v1/definitions/entity/customer", json=with_field(doc, WECHAT)).status_code == 200
    assert api.post("/api/v1/definitions/entity/customer/publish").status_code == 200
    impact = api.get("/api/v1/definitions/entity/customer/fields/wechat_id/impact").json
    assert impact == {"allowed": True, "blocking": [], "dependants": [], "problems": []}
    assert api.get("/api/v1/definitions/entity/customer/fields/nope/impact").status_code == 404


def test_a_bundle_round_trips_and_reimports_as_unchanged(api, app):
    bundle = api.get("/api/v1/definitions/bundle?item=entity/security&kind=dashboard")
    assert bundle.status_code == 200 and "attachment" in bundle.headers["Content-Disposition"]
    body = bundle.json
    names = {(i["kind"], i["name"]) for i in body["items"]}
    assert ("entity", "security") in names and ("dashboard", "service_quality") in names
    same = api.post("/api/v1/definitions/bundle", json=body).json
    assert set(same["unchanged"]) == {f"{k}/{n}" for k, n in names}
    assert same["created"] == same["updated"] == [] and same["revision"] is None

    security = next(i for i in body["items"] if i["name"] == "security")
    security["body"]["label"] = {"zh-CN": "证券代码表", "en": "Securities"}
    security["body"]["fields"].append({"name": "isin", "type": "string", "max_length": 12, "label": "ISIN"})
    plan = api.post("/api/v1/definitions/bundle?dry_run=1", json=body)
    assert plan.status_code == 200, plan.json
    assert plan.json["updated"] == ["entity/security"] and any("isin" in s for s in plan.json["steps"])
    assert "isin" not in {f["name"] for f in entity(api, "security")[0]["fields"]}  # a dry run keeps nothing
    done = api.post("/api/v1/definitions/bundle", json=body)
    assert done.status_code == 200 and done.json["revision"]
    assert entity(api, "security")[0]["label"]["en"] == "Securities"
    assert "entity/security" in api.post("/api/v1/definitions/bundle", json=body).json["unchanged"]
    actions = [a for a, _d in audit_actions(app)]
    assert "definition_export" in actions and "definition_import" in actions


@pytest.mark.parametrize(
    "bundle, path",
    [
        ({"items": []}, "$.format"),
        ({"format": "scrm-bundle/1", "items": []}, "$.items"),
        ({"format": "scrm-bundle/1", "items": [{"kind": "nope", "name": "x", "body": {}}]}, "$.items[0].kind"),
        (
            {"format": "scrm-bundle/1", "items": [{"kind": "form", "name": "x", "body": {"kind": "form"}}]},
            "$.items[0].body",
        ),  # fmt: skip
    ],
)
def test_a_malformed_bundle_is_refused_at_its_path(api, bundle, path):
    r = api.post("/api/v1/definitions/bundle", json=bundle)
    assert r.status_code == 422 and r.json["error"]["details"][0]["path"] == path


def test_a_bundle_with_a_broken_definition_changes_nothing(api):
    body = api.get("/api/v1/definitions/bundle?item=entity/security&item=form/customer_form").json
    form = next(i for i in body["items"] if i["kind"] == "form")
    form["body"]["layout"]["items"][0]["items"][0]["items"].append({"type": "field", "field": "no_such_field"})
    security = next(i for i in body["items"] if i["kind"] == "entity")
    security["body"]["label"] = {"zh-CN": "证券2", "en": "Securities 2"}
    r = api.post("/api/v1/definitions/bundle", json=body)
    assert r.status_code == 422
    assert entity(api, "security")[0]["label"]["en"] != "Securities 2"
    assert api.get("/api/v1/definitions/entity/security?status=draft").status_code == 404


def test_a_draft_in_the_way_of_an_import_is_reported(api):
    body = api.get("/api/v1/definitions/bundle?item=entity/security").json
    doc, _ = entity(api, "security")
    doc["label"] = {"zh-CN": "草稿", "en": "Draft"}
    assert api.put("/api/v1/definitions/entity/security", json=doc).status_code == 200
    body["items"][0]["body"]["label"] = {"zh-CN": "导入", "en": "Imported"}
    r = api.post("/api/v1/definitions/bundle", json=body)
    assert r.status_code == 409 and r.json["error"]["current"]["drafts"] == ["entity/security"]
    assert api.post("/api/v1/definitions/bundle?replace_drafts=1", json=body).status_code == 200
    assert entity(api, "security")[0]["label"]["en"] == "Imported"


def test_every_designer_action_is_audited(api, app):
    doc, _ = entity(api, "security")
    doc["label"] = {"zh-CN": "证券", "en": "Security v2"}
    api.put("/api/v1/definitions/entity/security", json=doc)
    api.delete("/api/v1/definitions/entity/security/draft")
    api.put("/api/v1/definitions/entity/security", json=doc)
    api.post("/api/v1/definitions/entity/security/publish")
    versions = api.get("/api/v1/definitions/entity/security/versions").json["items"]
    earlier = min(v["version"] for v in versions)
    assert api.post("/api/v1/definitions/entity/security/rollback", json={"version": earlier}).status_code == 200
    trail = [(a, d) for a, d in audit_actions(app) if "security" in d]
    assert [a for a, _d in trail][-5:] == [
        "definition_draft", "definition_discard", "definition_draft", "publish", "publish"]  # fmt: skip
    assert '"source": "rollback"' in trail[-1][1]


@pytest.mark.parametrize(
    "field, blocking",
    [
        ("id_valid_until", {"entity/customer", "alert/alr_id_expiring"}),  # its own named condition too
        ("elderly_flag", {"alert/alr_drawdown_care"}),
    ],
)
def test_the_impact_names_every_blocking_definition(api, field, blocking):
    impact = api.get(f"/api/v1/definitions/entity/customer/fields/{field}/impact").json
    assert set(impact["blocking"]) == blocking and impact["allowed"] is False
