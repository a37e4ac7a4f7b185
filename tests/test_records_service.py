"""The record service on a real database: create, read, update with optimistic locking,
soft delete, history, validation messages anchored at fields, references and uniqueness."""

from decimal import Decimal

import pytest

from scrm.errors import BadRequest, Conflict, NotFound, ValidationFailed


def test_create_and_read_round_trip(svc, seed):
    record = svc.get("customer", seed["c1"])
    assert record["name"] == "王芳"
    assert record["version"] == 1
    assert record["tags"] == ["价值投资"]
    assert record["asset_tier"] == "hnw"
    assert record["investor_category"] == "ordinary"  # default applied
    assert record["_titles"]["primary_manager"] == "张伟"


@pytest.mark.parametrize("per_statement", [1, 8, 10_000])
def test_multi_value_fields_read_together_or_in_chunks_agree(svc, seed, monkeypatch, per_statement):
    """A record's multi-value fields come in one statement, or a few when ids × fields would
    pass the bound on parameters: the same values either way."""
    from scrm.data import reading

    svc.update(
        "customer",
        seed["c2"],
        {"tags": ["高频交易", "价值投资"], "preferred_product_types": ["etf", "a_share"]},
        version=1,
    )
    expected = {r["id"]: r for r in svc.list("customer", limit=50).items}
    monkeypatch.setattr(reading, "LINK_PARAMETERS", per_statement)
    got = {r["id"]: r for r in svc.list("customer", limit=50).items}
    assert got == expected
    assert got[seed["c2"]]["tags"] == ["价值投资", "高频交易"] and got[seed["c2"]]["preferred_product_types"] == [
        "a_share",
        "etf",
    ]


def test_update_bumps_version_and_records_history(svc, seed):
    updated = svc.update("customer", seed["c1"], {"name": "王芳芳", "tags": ["价值投资", "高频交易"]}, version=1)
    assert updated["version"] == 2
    assert updated["tags"] == ["价值投资", "高频交易"]
    history = svc.history("customer", seed["c1"])
    changed = {h["field"]: (h["old"], h["new"]) for h in history if h["action"] == "update"}
    assert changed["name"] == ("王芳", "王芳芳")
    assert changed["tags"] == (["价值投资"], ["价值投资", "高频交易"])
    assert [h["action"] for h in history][-1] == "create"


def test_stale_version_is_a_conflict_and_keeps_the_other_change(svc, seed):
    svc.update("customer", seed["c2"], {"name": "刘强（他人修改）"}, version=1)
    with pytest.raises(Conflict) as exc:
        svc.update("customer", seed["c2"], {"name": "我的修改"}, version=1)
    assert exc.value.status == 409
    assert exc.value.current["version"] == 2
    assert exc.value.current["name"] == "刘强（他人修改）"
    assert svc.get("customer", seed["c2"])["name"] == "刘强（他人修改）"


def test_an_update_given_the_record_read_earlier_still_refuses_a_change_made_since(svc, seed):
    """A form's save hands ``update`` the record it read (no second read); when someone else
    saved in between, the write at the old version finds nothing and it is a conflict."""
    shown, stored = svc.shown_and_stored("customer", seed["c2"])
    assert shown["name"] == stored["name"] == "刘强" and stored["version"] == 1
    svc.update("customer", seed["c2"], {"name": "刘强（他人修改）"}, version=1)
    with pytest.raises(Conflict) as exc:
        svc.update("customer", seed["c2"], {"name": "我的修改"}, version=1, current=stored)
    assert exc.value.current["name"] == "刘强（他人修改）"
    assert svc.update("customer", seed["c1"], {"name": "王芳芳"}, version=1, current=stored)["name"] == "王芳芳"


def test_update_without_version_is_refused(svc, seed):
    with pytest.raises(BadRequest) as exc:
        svc.update("customer", seed["c2"], {"name": "x"})
    assert exc.value.code == "version_required"


@pytest.mark.parametrize(
    "data, path, fragment",
    [
        ({"customer_no": "12"}, "customer_no", "6 to 20"),
        ({"id_number": "110105194912310039"}, "id_number", "check digit"),
        ({"asset_tier": "gold"}, "asset_tier", "not one of"),
        ({"mobile": "12345"}, "mobile", "mobile"),
        ({"email": "not-an-email"}, "email", "e-mail"),
        ({"birth_date": "1990-02-30"}, "birth_date", "date"),
        ({"birth_date": "1800-01-01"}, "birth_date", "1900-01-01"),
        ({"primary_manager": 999999}, "primary_manager", "#999999"),
        ({"nickname": "x"}, "nickname", "Unknown field"),
        ({"total_assets": "5"}, "total_assets", "read-only"),
        ({"tags": "a" * 40}, "tags", "32"),
    ],
)
def test_bad_values_get_a_message_at_their_field(svc, seed, data, path, fragment):
    body = {
        "customer_no": "320000000009",
        "name": "新客户",
        "id_type": "cn_id",
        "id_number": "440303198001011232",
        **data,
    }
    with pytest.raises(ValidationFailed) as exc:
        svc.create("customer", body)
    messages = exc.value.by_path()
    assert path in messages, messages
    assert any(fragment.lower() in m.lower() for m in messages[path]), messages[path]


def test_required_fields_are_reported_together(svc):
    with pytest.raises(ValidationFailed) as exc:
        svc.create("customer", {"name": "缺字段"})
    assert {"customer_no", "id_number"} <= set(exc.value.by_path())


def test_unique_field_names_the_record_that_has_the_value(svc, seed):
    with pytest.raises(ValidationFailed) as exc:
        svc.create(
            "customer",
            {"customer_no": "310000000001", "name": "重复", "id_type": "cn_id", "id_number": "440303198001011232"},
        )
    assert f"#{seed['c1']}" in exc.value.by_path()["customer_no"][0]


def test_composite_unique_constraint(svc, seed):
    with pytest.raises(ValidationFailed) as exc:
        svc.create(
            "customer",
            {"customer_no": "320000000001", "name": "同证件", "id_type": "cn_id", "id_number": "11010519491231002X"},
        )
    assert "id_number" in exc.value.by_path()


def test_check_constraint_runs_on_save(svc, seed):
    with pytest.raises(ValidationFailed) as exc:
        svc.update("customer", seed["c3"], {"investor_category": "professional_1"}, version=1)
    assert "professional_valid_until" in exc.value.by_path()
    ok = svc.update(
        "customer",
        seed["c3"],
        {"investor_category": "professional_1", "professional_valid_until": "2027-06-30"},
        version=1,
    )
    assert ok["investor_category"] == "professional_1"


def test_money_is_exact(svc, seed):
    record = svc.create(
        "account", {"fund_account_no": "10000001", "customer": seed["c1"], "commission_rate": "0.00025"}
    )
    assert record["commission_rate"] == Decimal("0.000250")
    trade = svc.create(
        "trade",
        {
            "trade_no": "T1",
            "account": record["id"],
            "customer": seed["c1"],
            "security": svc.create(
                "security", {"symbol": "600519.SH", "name": "贵州茅台", "exchange": "SSE", "security_type": "a_share"}
            )["id"],
            "trade_date": "2026-11-20",
            "trade_time": "2026-11-20T10:01:02+08:00",
            "side": "buy",
            "quantity": "100",
            "price": "1688.8800",
            "amount": "168888.00",
        },
    )
    again = svc.get("trade", trade["id"])
    assert again["amount"] == Decimal("168888.00")
    assert again["price"] == Decimal("1688.8800")
    assert again["trade_time"].isoformat() == "2026-11-20T02:01:02+00:00"


def test_too_many_decimals_are_refused_not_rounded(svc, seed):
    with pytest.raises(ValidationFailed) as exc:
        svc.create("account", {"fund_account_no": "10000002", "customer": seed["c1"], "commission_rate": "0.0000001"})
    assert "6" in exc.value.by_path()["commission_rate"][0]


def test_soft_delete_hides_the_record_and_keeps_it(svc, seed, ctx):
    import sqlalchemy as sa

    from scrm.db import db

    svc.delete("customer", seed["c2"], version=1)
    with pytest.raises(NotFound):
        svc.get("customer", seed["c2"])
    assert seed["c2"] not in [r["id"] for r in svc.list("customer").items]
    table = svc.tables(svc.entity("customer")).main
    row = db.session.execute(sa.select(table.c.deleted_at, table.c.name).where(table.c.id == seed["c2"])).one()
    assert row.deleted_at is not None and row.name == "刘强"
    assert svc.history("customer", seed["c1"])  # others unaffected


def test_deleting_a_referenced_record_is_refused(svc, seed):
    with pytest.raises(Conflict) as exc:
        svc.delete("employee", seed["emp1"])
    assert exc.value.code == "still_referenced"


def test_unique_value_is_free_again_after_delete(svc, seed):
    svc.delete("customer", seed["c2"])
    again = svc.create(
        "customer",
        {"customer_no": "310000000002", "name": "刘强", "id_type": "cn_id", "id_number": "110105194912310038"},
    )
    assert again["id"] != seed["c2"]


def test_unknown_entity_is_not_found(svc):
    with pytest.raises(NotFound):
        svc.list("nope")


def test_a_unique_rule_with_a_condition_counts_only_matching_records(svc, seed):
    """One live consent per customer and purpose: a withdrawn one does not count, a second
    live one is refused at the rule's field, and withdrawing frees the purpose again."""
    live = {"customer": seed["c1"], "purpose": "personalised_recommendation", "policy_version": "PP-1",
            "granted_at": "2026-01-05T10:00:00+08:00"}  # fmt: skip
    svc.create("consent_record", {**live, "withdrawn_at": "2026-02-01T10:00:00+08:00"})
    first = svc.create("consent_record", live)
    with pytest.raises(ValidationFailed) as exc:
        svc.create("consent_record", live)
    assert "recipient_category" in exc.value.by_path()
    svc.update("consent_record", first["id"], {"withdrawn_at": "2026-03-01T10:00:00+08:00"}, version=first["version"])
    assert svc.create("consent_record", live)["id"]
    assert svc.create("consent_record", {**live, "customer": seed["c2"]})["id"]


def test_a_computed_field_reading_today_follows_the_local_date(svc, seed, monkeypatch):
    """The statement with `age = years_between(birth_date, today)` is built once a day, not once a
    read, and not kept past midnight."""
    from datetime import UTC, datetime, timedelta

    import scrm.data.reading as reading

    noon = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai, the eve of the birthday
    svc.update("customer", seed["c1"], {"birth_date": "1980-03-02", "_version": 1})
    seen, original = [], reading.environment
    for moment, age in ((noon, 45), (noon + timedelta(hours=3), 45), (noon + timedelta(hours=13), 46), (noon, 45)):
        monkeypatch.setattr(reading, "environment", _at(original, moment))
        record = svc.get("customer", seed["c1"])
        assert record["age"] == age
        seen.append(svc._select(svc.entity("customer"), svc.tables(svc.entity("customer")), None, svc.environment())[0])
    assert seen[0] is seen[1] and seen[1] is not seen[2]


def _at(environment, moment):
    return lambda snapshot, **kwargs: environment(snapshot, **{**kwargs, "now": moment})
