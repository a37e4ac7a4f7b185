"""A ticket's comment thread on its page: internal and customer-visible comments signed by the
user's employee, @mentions, attachments with type, content and size limits (a refused file
leaves nothing behind), files readable only with the ticket, and the customer's status page
showing public comments and their files but never internal ones."""

from __future__ import annotations

import io

import pytest
from support import login
from test_ticket_workflow import desk, new_ticket  # noqa: F401  (the staffed service desk)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.7\n" + b"1 0 obj\n" * 8


@pytest.fixture
def agent(app, desk):  # noqa: F811
    client = app.test_client()
    login(client, "agent1")
    return client


def post(client, ticket_id: int, body: str, visibility: str = "internal", files=(), htmx: bool = True):
    data = {"body": body, "visibility": visibility, "files": [(io.BytesIO(data), name) for name, data in files]}
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(
        f"/e/service_ticket/{ticket_id}/comments", data=data, headers=headers, content_type="multipart/form-data"
    )


def comments_of(desk, ticket_id: int) -> list[dict]:  # noqa: F811
    flt = f'{{"field":"ticket","op":"eq","value":{ticket_id}}}'
    return desk["call"]("admin", "get", f"/api/v1/records/ticket_comment?filter={flt}&sort=id").json["items"]


def test_a_comment_with_a_mention_and_files_is_signed_and_shown(app, desk, agent):  # noqa: F811
    t = new_ticket(desk)
    r = post(agent, t["id"], "客户截图见附件，请 @lead 协助核实", files=[("截图.png", PNG), ("流水.pdf", PDF)])
    assert r.status_code == 200
    assert "scrm-mention" in r.text and "截图.png" in r.text and "流水.pdf" in r.text
    [comment] = comments_of(desk, t["id"])
    assert comment["author"] == desk["people"]["agent1"] and comment["visibility"] == "internal"
    assert comment["mentions"] == [desk["people"]["lead"]]
    assert [f["name"] for f in comment["attachments"]] == ["截图.png", "流水.pdf"]
    png = agent.get(f"/files/{comment['attachments'][0]['id']}")
    assert (png.status_code, png.mimetype, png.data) == (200, "image/png", PNG)
    assert png.headers["X-Content-Type-Options"] == "nosniff"
    page = agent.get(f"/e/service_ticket/{t['id']}/comments")
    assert page.status_code == 200 and "协助核实" in page.text


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        ([("run.exe", b"MZ\x90\x00")], "file_type"),
        ([("noextension", b"hello")], "file_type"),
        ([("fake.pdf", b"MZ\x90\x00 not a pdf")], "file_content"),
        ([("fake.png", PDF)], "file_content"),
        ([("binary.txt", b"abc\x00def")], "file_content"),
        ([("empty.pdf", b"")], "file_empty"),
        ([("big.pdf", b"%PDF-" + b"0" * (2 * 1024 * 1024))], "file_size"),
        ([(f"f{i}.txt", b"ok") for i in range(6)], "too_many_files"),
    ],
)
def test_refused_files_leave_nothing_behind(app, desk, agent, files, reason):  # noqa: F811
    app.config["SCRM_ATTACHMENT_MAX_MB"] = 1
    t = new_ticket(desk)
    r = post(agent, t["id"], "附件说明", files=files)
    assert r.status_code == 422
    assert "is-invalid" in r.text and "附件说明" in r.text  # the reason at the field, the text kept
    assert comments_of(desk, t["id"]) == []
    from scrm.data.attachments import Attachment, Upload, check
    from scrm.db import db
    from scrm.errors import ValidationFailed

    with app.app_context():
        assert db.session.query(Attachment).count() == 0
        with pytest.raises(ValidationFailed) as exc:
            check([Upload(name, data) for name, data in files])
    assert [d.code for d in exc.value.details] == [reason]
    assert [d.path for d in exc.value.details] == ["attachments"]


@pytest.mark.parametrize(("body", "visibility"), [("", "internal"), ("   ", "customer"), ("x", "everyone")])
def test_an_empty_body_or_unknown_visibility_is_refused_at_its_field(desk, agent, body, visibility):  # noqa: F811
    t = new_ticket(desk)
    r = post(agent, t["id"], body, visibility)
    assert r.status_code == 422 and "is-invalid" in r.text
    assert comments_of(desk, t["id"]) == []


def test_files_are_read_only_with_their_ticket(app, desk, agent):  # noqa: F811
    t = new_ticket(desk)
    post(agent, t["id"], "内部材料", files=[("内部.pdf", PDF)])
    file_id = comments_of(desk, t["id"])[0]["attachments"][0]["id"]
    anonymous = app.test_client()
    assert anonymous.get(f"/files/{file_id}").status_code in (302, 303)  # to the login page
    assert agent.get("/files/999999").status_code == 404


def test_the_status_page_shows_public_comments_and_their_files_only(app, desk, agent):  # noqa: F811
    from scrm.workflows.engine import instance_of

    t = new_ticket(desk)
    post(agent, t["id"], "内部判断：疑似操作失误", files=[("内部.pdf", PDF)])
    post(agent, t["id"], "您好，已为您查询，转账凭证见附件", "customer", files=[("凭证.png", PNG)])
    with app.app_context():
        token = instance_of("service_ticket", t["id"]).public_token
    anonymous = app.test_client()
    page = anonymous.get(f"/s/{token}")
    assert "转账凭证见附件" in page.text and "凭证.png" in page.text
    assert "疑似操作失误" not in page.text and "内部.pdf" not in page.text
    internal, public = (c["attachments"][0]["id"] for c in comments_of(desk, t["id"]))
    assert anonymous.get(f"/s/{token}/files/{public}").data == PNG
    assert anonymous.get(f"/s/{token}/files/{internal}").status_code == 404
    assert anonymous.get(f"/s/not-a-token/files/{public}").status_code == 404


def test_the_api_takes_comments_with_files_and_serves_them(app, desk):  # noqa: F811
    from scrm.security.users import find_user, issue_token

    t = new_ticket(desk)
    with app.app_context():
        token = issue_token(find_user("agent1"), "tests")
    client = app.test_client()
    auth = {"Authorization": f"Bearer {token}"}
    url = f"/api/v1/records/service_ticket/{t['id']}/comments"
    r = client.post(url, json={"body": "已电话联系客户", "visibility": "customer"}, headers=auth)
    assert r.status_code == 201 and r.json["author"] == desk["people"]["agent1"]
    r = client.post(url, data={"body": "回单", "files": [(io.BytesIO(PDF), "回单.pdf")]}, headers=auth,
                    content_type="multipart/form-data")  # fmt: skip
    assert r.status_code == 201, r.json
    [pdf] = r.json["attachments"]
    got = client.get(f"/api/v1/files/{pdf['id']}", headers=auth)
    assert (got.status_code, got.data) == (200, PDF)
    bad = client.post(url, data={"body": "x", "files": [(io.BytesIO(b"MZ"), "a.exe")]}, headers=auth,
                      content_type="multipart/form-data")  # fmt: skip
    assert bad.status_code == 422 and bad.json["error"]["details"][0]["path"] == "attachments"
    assert client.post(url, json={"body": 3}, headers=auth).status_code == 400
    assert client.post("/api/v1/records/customer/1/comments", json={"body": "x"}, headers=auth).status_code == 404
    assert len(comments_of(desk, t["id"])) == 2
