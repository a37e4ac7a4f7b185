"""The workflow editor: a new workflow for customer feedback built from nothing (states,
transitions with roles and a guard from the condition builder, an SLA), its diagram drawn from
the draft, published — and then records move through it; refusals leave the draft unchanged."""

import pytest
from support import post

NAME = "feedback_flow"
NO_GUARD = [("guard:r:t", "group"), ("guard:r:m", "all")]


def draft(app) -> dict:
    from scrm.meta import store

    with app.app_context():
        return store.get("workflow", NAME, store.DRAFT).body


def new_workflow(client) -> str:
    index = client.get("/design/?kind=workflow").get_data(as_text=True)
    r = post(client, "/design/new", index, {"kind": "workflow", "name": NAME, "label": "意见处理", "entity": "feedback"},
             base=False)  # fmt: skip
    assert r.status_code == 200
    return r.get_data(as_text=True)


def add_state(client, page, state, label, category, final=False) -> str:
    data = {"state": state, "label": label, "label_en": state.title(), "category": category}
    if final:
        data["final"] = "1"
    return post(client, f"/design/workflow/{NAME}/states", page, data).get_data(as_text=True)


def test_a_workflow_is_built_published_and_used(app, client, api, seed):
    page = new_workflow(client)
    assert 'id="workflow-diagram"' in page and "<svg" in page
    page = add_state(client, page, "reviewed", "已评估", "open")
    page = add_state(client, page, "adopted", "已采纳", "done", final=True)
    page = add_state(client, page, "rejected", "未采纳", "done", final=True)
    page = post(client, f"/design/workflow/{NAME}/transitions/remove", page, {"transition": "finish"}).get_data(
        as_text=True
    )
    page = post(client, f"/design/workflow/{NAME}/states/remove", page, {"state": "done"}).get_data(as_text=True)
    page = post(client, f"/design/workflow/{NAME}/transitions", page,
                [("transition", "review"), ("label", "评估"), ("from", "new"), ("to", "reviewed"), ("roles", "admin"),
                 ("comment", "optional"), ("style", "primary"), *NO_GUARD]).get_data(as_text=True)  # fmt: skip
    guard = [("guard:r:t", "group"), ("guard:r:m", "all"), ("guard:r.0:t", "leaf"), ("guard:r.0:f", "response"),
             ("guard:r.0:o", "is_not_empty")]  # fmt: skip
    page = post(client, f"/design/workflow/{NAME}/transitions", page,
                [("transition", "adopt"), ("label", "采纳"), ("from", "reviewed"), ("to", "adopted"), ("roles", "admin"),
                 ("guard_message", "请先填写答复"), *guard, ("do", "notify"), ("who", "related_employee"),
                 ("title", "意见已采纳")]).get_data(as_text=True)  # fmt: skip
    page = post(client, f"/design/workflow/{NAME}/transitions", page,
                [("transition", "reject"), ("label", "不采纳"), ("from", "reviewed"), ("to", "rejected"), *NO_GUARD]).get_data(as_text=True)  # fmt: skip
    page = post(client, f"/design/workflow/{NAME}/slas", page,
                [("sla", "review_time"), ("label", "评估时效"), ("start", "new"), ("stop", "adopted"), ("stop", "rejected"),
                 ("target", "P5D")]).get_data(as_text=True)  # fmt: skip
    body = draft(app)
    assert list(body["states"]) == ["new", "reviewed", "adopted", "rejected"]
    adopt = next(t for t in body["transitions"] if t["name"] == "adopt")
    assert adopt["guard"] == {"all": [{"field": "response", "op": "is_not_empty"}]}
    assert adopt["actions"][0]["to"] == [{"field": "related_employee"}]
    assert body["slas"][0]["stop"] == {"on_state": ["adopted", "rejected"]}
    assert 'id="draft-problems"' not in page, page[page.find('id="draft-problems"') :][:800]
    for label in ("已评估", "已采纳", "未采纳"):
        assert label in page.split('id="workflow-diagram"')[1].split("</svg>")[0]

    publish_page = client.get(f"/design/workflow/{NAME}?tab=publish").get_data(as_text=True)
    assert post(client, f"/design/workflow/{NAME}/publish", publish_page, {}, base=False).status_code == 200

    record = api.post("/api/v1/records/feedback", json={"feedback_type": "suggestion", "content": "希望增加夜盘提醒",
                                                       "status": "new"}).get_json()  # fmt: skip
    rid = record["id"]
    assert api.post(f"/api/v1/records/feedback/{rid}/transitions/review", json={}).status_code == 200
    refused = api.post(f"/api/v1/records/feedback/{rid}/transitions/adopt", json={})
    assert refused.status_code == 422 and refused.get_json()["error"]["message"] == "请先填写答复"
    assert api.get(f"/api/v1/records/feedback/{rid}").get_json()["status"] == "reviewed"
    api.patch(f"/api/v1/records/feedback/{rid}", json={"response": "已纳入下一版本", "_version": 2})
    assert api.post(f"/api/v1/records/feedback/{rid}/transitions/adopt", json={}).status_code == 200


def test_editing_a_transition_keeps_its_actions(app, client, seed):
    page = new_workflow(client)
    page = post(client, f"/design/workflow/{NAME}/transitions", page,
                [("original", "finish"), ("transition", "close"), ("label", "关闭"), ("from", "new"), ("to", "done"),
                 *NO_GUARD, ("do", "notify"), ("who", "related_employee"), ("title", "已关闭")]).get_data(as_text=True)  # fmt: skip
    edit = client.get(f"/design/workflow/{NAME}?transition=close").get_data(as_text=True)
    assert 'name="original" value="close"' in edit
    post(
        client,
        f"/design/workflow/{NAME}/transitions",
        edit,
        [("original", "close"), ("transition", "close"), ("label", "结束"), ("from", "new"), ("to", "done"), *NO_GUARD],
    )
    (t,) = draft(app)["transitions"]
    assert t["label"]["zh-CN"] == "结束" and len(t["actions"]) == 1


@pytest.mark.parametrize(
    "url, data",
    [
        ("states/remove", {"state": "new"}),  # used by a transition
        ("states", {"state": "Bad Name", "category": "open"}),
        ("transitions", [("transition", "finish2"), ("from", "nowhere"), ("to", "done"), *NO_GUARD]),
        ("transitions", [("transition", "finish"), ("from", "new"), ("to", "done"), *NO_GUARD]),  # exists
        ("slas", {"sla": "t", "start": "new", "stop": "done", "target": "three days"}),
        ("settings", {"entity": "nope"}),
    ],
)
def test_refusals_leave_the_draft_unchanged(app, client, seed, url, data):
    page = new_workflow(client)
    before = draft(app)
    r = post(client, f"/design/workflow/{NAME}/{url}", page, data)
    assert r.status_code in (200, 422)
    assert draft(app) == before
    assert "alert-danger" in r.get_data(as_text=True)


@pytest.mark.parametrize(
    "items, keep_empty, found, after",
    [
        ([{"name": "a"}, {"name": "b"}], True, True, {"xs": [{"name": "b"}]}),
        ([{"name": "a"}], False, True, {}),
        ([{"name": "a"}], True, True, {"xs": []}),
        ([{"name": "b"}, "junk"], True, False, {"xs": [{"name": "b"}, "junk"]}),
    ],
)
def test_drop_item_removes_one_named_item(items, keep_empty, found, after):
    from scrm.designer.edits import drop_item

    body = {"xs": items}
    assert drop_item(body, "xs", "a", keep_empty=keep_empty) is found
    assert body == after


def test_removing_an_sla_removes_the_list_with_the_last_one(app, client, seed):
    page = new_workflow(client)
    page = post(client, f"/design/workflow/{NAME}/slas", page,
                [("sla", "t"), ("start", "new"), ("stop", "done"), ("target", "P1D")]).get_data(as_text=True)  # fmt: skip
    assert [s["name"] for s in draft(app)["slas"]] == ["t"]
    post(client, f"/design/workflow/{NAME}/slas/remove", page, {"sla": "t"})
    assert "slas" not in draft(app)
