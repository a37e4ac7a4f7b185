"""Banned phrases kept in the knowledge base: block-level ones stop a save at the field with the
compliant wording, warn-level ones let it through with a compliance flag on the interaction."""

from __future__ import annotations

import pytest

from scrm.errors import ValidationFailed

TERMS = [
    {"term": "保本", "severity": "block", "suggestion": "本产品不保证本金安全，可能发生本金损失"},
    {"term": "稳赚", "severity": "block"},
    {"term": "最好的产品", "severity": "warn"},
]


@pytest.fixture
def banned(svc, seed):
    svc.create(
        "knowledge_article",
        {"article_type": "banned_phrase", "title": "禁用语", "body": "词条见 banned_terms", "status": "published",
         "banned_terms": TERMS, "audience": "internal", "approved_by": seed["emp1"],
         "approved_at": "2026-11-01T02:00:00Z"},
    )  # fmt: skip
    return seed


def note(svc, seed, text: str) -> dict:
    return svc.create(
        "interaction", {"customer": seed["c1"], "channel": "phone_outbound", "started_at": "2026-11-20T02:00:00Z",
                        "summary": text},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("这款产品保本，放心买", "保本"),
        ("跟着我操作稳赚", "稳赚"),
        ("本产品不保证本金安全", None),
        ("客户表示了解风险", None),
    ],
)
def test_scrm_check_record_blocks_banned_phrases_at_the_field(svc, banned, text, term):
    if term is None:
        assert note(svc, banned, text)["summary"] == text
        return
    with pytest.raises(ValidationFailed) as exc:
        note(svc, banned, text)
    message = exc.value.by_path()["summary"][0]
    assert term in message
    if term == "保本":
        assert "可能发生本金损失" in message


def test_warn_level_phrases_are_flagged_not_blocked(svc, banned):
    record = note(svc, banned, "这是我们最好的产品之一")
    assert "banned_phrase_warning" in record["compliance_flags"]


def test_the_same_rule_reaches_the_api_and_ticket_comments(api, banned):
    r = api.post(
        "/api/v1/records/interaction",
        json={"customer": banned["c1"], "channel": "phone_outbound", "started_at": "2026-11-20T02:00:00Z",
              "summary": "保底收益8%"},
    )  # fmt: skip
    assert r.status_code == 201  # 保底 is not on this installation's list
    r = api.post(
        "/api/v1/records/interaction",
        json={"customer": banned["c1"], "channel": "phone_outbound", "started_at": "2026-11-20T02:00:00Z",
              "summary": "保本保息"},
    )  # fmt: skip
    assert r.status_code == 422 and r.json["error"]["details"][0]["path"] == "summary"
    ticket = api.post(
        "/api/v1/records/service_ticket",
        json={"customer": banned["c1"], "subject": "咨询"},  # the workflow numbers it
    )
    assert ticket.status_code == 201, ticket.json
    r = api.post("/api/v1/records/ticket_comment", json={"ticket": ticket.json["id"], "body": "放心，稳赚"})
    assert r.status_code == 422 and any(
        "稳赚" in d["message"] for d in r.json["error"]["details"] if d["path"] == "body"
    )


def test_a_retired_list_no_longer_blocks(svc, banned):
    article = svc.list(
        "knowledge_article", filter={"field": "article_type", "op": "eq", "value": "banned_phrase"}
    ).items[0]
    svc.update("knowledge_article", article["id"], {"status": "retired"}, article["version"])
    assert note(svc, banned, "这款产品保本")["summary"] == "这款产品保本"
