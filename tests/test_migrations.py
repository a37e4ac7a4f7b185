"""The migration planner on a table holding data: add, rename, deactivate and retype fields and
compare every stored value before and after; refused changes leave everything as it was."""

import copy
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from scrm.errors import ValidationFailed

PROBE = {
    "kind": "entity",
    "name": "probe",
    "label": {"zh-CN": "探针", "en": "Probe"},
    "fields": [
        {"name": "a", "type": "string", "max_length": 40},
        {"name": "b", "type": "integer"},
        {"name": "c", "type": "money"},
        {"name": "d", "type": "enum", "options": ["x", "y"]},
        {"name": "e", "type": "date"},
        {"name": "f", "type": "tags"},
        {"name": "g", "type": "string", "max_length": 20},
        {"name": "h", "type": "bool"},
        {"name": "i", "type": "string", "max_length": 30, "unique": True},
    ],
}


def publish(ctx, doc):
    from scrm.runtime import runtime

    service = runtime().definitions
    service.save_draft(doc["kind"], doc["name"], doc)
    return service.publish(doc["kind"], doc["name"])


def current(kind="entity", name="probe"):
    from scrm.meta import store

    return copy.deepcopy(store.get(kind, name).body)


def stored(ctx) -> dict:
    """Every value as stored: the main table (all columns) and the tags link table."""
    from scrm.db import db

    with db.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM crm_probe ORDER BY id")).mappings().all()
        tags = conn.execute(sa.text("SELECT record_id, value FROM crm_probe__f ORDER BY record_id, value")).all()
    return {"rows": [dict(r) for r in rows], "tags": [tuple(t) for t in tags]}


def records(svc_factory) -> dict:
    svc = svc_factory()
    return {r["id"]: r for r in svc.list("probe", limit=200, sort="id").items}


@pytest.fixture
def probe(ctx):
    from scrm.data.records import RecordService
    from scrm.runtime import snapshot

    publish(ctx, PROBE)
    rows = []
    for n in range(40):
        rows.append(
            {
                "a": f"名称{n}" if n % 7 else None,
                "b": n * 1000 - 7 if n % 5 else None,
                "c": f"{n * 12345}.{n % 100:02d}" if n % 3 else None,
                "d": ["x", "y", None][n % 3],
                "e": date(2020, 1 + n % 12, 1 + n % 28).isoformat() if n % 4 else None,
                "f": [["甲"], ["甲", "乙"], []][n % 3],
                "g": str(n * 3) if n % 6 else None,
                "h": [True, False, None][n % 3],
                "i": f"U{n}",
            }
        )
    RecordService(snapshot(), None).bulk_create("probe", rows)
    return lambda: RecordService(snapshot(), None)


def test_add_rename_deactivate_retype_keeps_every_value(probe, ctx):
    before_raw = stored(ctx)
    before = records(probe)
    doc = current()
    fields = {f["name"]: f for f in doc["fields"]}
    fields["a"]["name"] = "alpha"  # rename: column unchanged
    fields["b"]["type"] = "decimal"  # integer -> decimal
    fields["b"]["scale"] = 2
    fields["c"]["scale"] = 4  # money scale 2 -> 4
    fields["d"]["options"] = ["x", "y", "z"]  # widen options
    fields["g"]["type"] = "integer"  # numeric strings -> integer
    del fields["g"]["max_length"]
    fields["i"]["max_length"] = 60  # widen a unique string
    doc["fields"] = [f for f in doc["fields"] if f["name"] != "e"]  # remove -> deactivate, data kept
    doc["fields"].append({"name": "z", "type": "string", "label": "新字段"})
    result = publish(ctx, doc)
    assert result.steps, result

    after = records(probe)
    assert set(after) == set(before)
    for rid, old in before.items():
        new = after[rid]
        assert new["alpha"] == old["a"]
        assert new["b"] == (Decimal(old["b"]) if old["b"] is not None else None)
        assert new["c"] == old["c"]
        assert new["d"] == old["d"]
        assert new["f"] == old["f"]
        assert new["g"] == (int(old["g"]) if old["g"] is not None else None)
        assert new["h"] == old["h"] and new["i"] == old["i"]
        assert new["z"] is None
        assert "e" not in new and "a" not in new
        assert new["version"] == old["version"]

    after_raw = stored(ctx)
    assert after_raw["tags"] == before_raw["tags"]
    for old_row, new_row in zip(before_raw["rows"], after_raw["rows"], strict=True):
        assert str(new_row["e"]) == str(old_row["e"])  # the deactivated column still holds its data
        assert new_row["a"] == old_row["a"]  # renamed field: same physical column

    published = current()
    renamed = next(f for f in published["fields"] if f["name"] == "alpha")
    assert renamed["column"] == "a" and renamed["previous_names"] == ["a"]
    assert next(f for f in published["fields"] if f["name"] == "e")["active"] is False


@pytest.mark.parametrize(
    "change, fragment",
    [
        (lambda fs: fs["a"].update(type="integer") or fs["a"].pop("max_length"), "of 34 stored values of a"),
        (lambda fs: fs["d"].update(options=["x"]), "13 of 27 stored values of d"),
        (lambda fs: fs["a"].update(max_length=3), "26 of 34 stored values of a"),
        (lambda fs: fs["b"].update(min=5000), "4 of 32 stored values of b"),
        (lambda fs: fs["a"].update(required=True), "6 records have no value"),
        (lambda fs: fs["h"].update(unique=True), "cannot become unique"),
        (lambda fs: fs["f"].update(type="string", max_length=20), "list of values"),
    ],
)
def test_refused_changes_name_the_offending_values_and_change_nothing(probe, ctx, change, fragment):
    from scrm.meta import store

    before_raw = stored(ctx)
    version = store.get("entity", "probe").version
    doc = current()
    change({f["name"]: f for f in doc["fields"]})
    with pytest.raises(ValidationFailed) as exc:
        publish(ctx, doc)
    assert exc.value.code == "migration_refused"
    assert fragment in " ".join(d.message for d in exc.value.details)
    assert store.get("entity", "probe").version == version
    assert stored(ctx) == before_raw


def test_removed_then_restored_field_gets_its_data_back(probe, ctx):
    before = records(probe)
    doc = current()
    publish(ctx, {**doc, "fields": [f for f in doc["fields"] if f["name"] != "e"]})
    assert "e" not in records(probe)[1]
    restored = current()
    for f in restored["fields"]:
        if f["name"] == "e":
            f["active"] = True
    publish(ctx, restored)
    after = records(probe)
    assert all(after[rid]["e"] == before[rid]["e"] for rid in before)


def test_migrate_plan_reports_drift_and_migrate_repairs_it(probe, ctx):
    from scrm.db import db
    from scrm.runtime import runtime

    with db.engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX uq_crm_probe_i")
    steps, statements = runtime().definitions.migrate(dry_run=True)
    assert any("uq_crm_probe_i" in s for s in steps)
    assert any("CREATE UNIQUE INDEX uq_crm_probe_i" in s for s in statements)
    assert "uq_crm_probe_i" not in {ix["name"] for ix in sa.inspect(db.engine).get_indexes("crm_probe")}
    runtime().definitions.migrate()
    assert "uq_crm_probe_i" in {ix["name"] for ix in sa.inspect(db.engine).get_indexes("crm_probe")}
    assert runtime().definitions.migrate(dry_run=True) == ([], [])


def test_purge_archives_then_drops_only_deactivated_fields(probe, ctx):
    from scrm.db import db
    from scrm.errors import ValidationFailed as Refused
    from scrm.runtime import runtime

    service = runtime().definitions
    before = records(probe)
    with pytest.raises(Refused) as exc:
        service.purge_field("probe", "e")
    assert exc.value.code == "field_active"
    doc = current()
    publish(ctx, {**doc, "fields": [f for f in doc["fields"] if f["name"] not in ("e", "f")]})
    preview = service.purge_field("probe", "e", dry_run=True)
    assert preview.archived_values == 30 and any("DROP" in s for s in preview.statements)
    assert "e" in {c["name"] for c in sa.inspect(db.engine).get_columns("crm_probe")}
    result = service.purge_field("probe", "e")
    assert "e" not in {c["name"] for c in sa.inspect(db.engine).get_columns("crm_probe")}
    assert "e" not in [f["name"] for f in current()["fields"]]
    with db.engine.connect() as conn:
        archive = sa.table(result.archive_table, sa.column("record_id"), sa.column("value", sa.JSON))
        archived = dict(conn.execute(sa.select(archive.c.record_id, archive.c.value)).all())
    assert archived == {rid: r["e"].isoformat() for rid, r in before.items() if r["e"] is not None}
    tags = service.purge_field("probe", "f")
    assert tags.archived_values == sum(1 for r in before.values() if r["f"])
    assert not sa.inspect(db.engine).has_table("crm_probe__f")
    after = records(probe)
    assert all(after[rid]["alpha" if "alpha" in after[rid] else "a"] == before[rid]["a"] for rid in before)


def test_purge_refused_while_a_form_places_the_field(ctx):
    from scrm.errors import ValidationFailed as Refused
    from scrm.runtime import runtime

    doc = current("entity", "customer")
    publish(ctx, {**doc, "fields": [f for f in doc["fields"] if f["name"] != "notes"]})
    with pytest.raises(Refused) as exc:
        runtime().definitions.purge_field("customer", "notes")
    assert any("form/customer_form" in d.path for d in exc.value.details)


def test_adding_a_unique_field_and_composite_constraint_to_a_populated_table(probe, ctx):
    from scrm.db import db

    doc = current()
    doc["fields"].append({"name": "code", "type": "string", "max_length": 12, "unique": True})
    doc["fields"].append({"name": "branch_code", "type": "string", "max_length": 8})
    doc["constraints"] = [{"name": "uq_probe_code_branch", "type": "unique", "fields": ["i", "branch_code"]}]
    publish(ctx, doc)
    names = {ix["name"] for ix in sa.inspect(db.engine).get_indexes("crm_probe")}
    assert {"uq_crm_probe_code", "uq_crm_probe_i_branch_code"} <= names


def test_a_retyped_column_keeps_its_indexes(probe, ctx):
    from scrm.db import db

    before = {ix["name"] for ix in sa.inspect(db.engine).get_indexes("crm_probe")}
    doc = current()
    for f in doc["fields"]:
        if f["name"] == "i":
            f["type"] = "text"
            del f["max_length"]
    publish(ctx, doc)
    assert {ix["name"] for ix in sa.inspect(db.engine).get_indexes("crm_probe")} == before
    from scrm.errors import ValidationFailed as Refused

    with pytest.raises(Refused):  # the unique index is really there
        probe().create("probe", {"i": "U1"})


def test_a_type_change_normalises_the_stored_values(probe, ctx):
    svc = probe()
    rid = svc.create("probe", {"i": "P1", "g": "138 0013 8001"})["id"]
    doc = current()
    for f in doc["fields"]:
        if f["name"] == "g":
            f.update(type="phone")
            del f["max_length"]
    with pytest.raises(ValidationFailed):  # the other stored values of g are not phone numbers
        publish(ctx, doc)
    from scrm.db import db

    with db.engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE crm_probe SET g = NULL WHERE id <> {rid}")
    publish(ctx, doc)
    assert probe().get("probe", rid)["g"] == "13800138001"
    assert [
        r["id"] for r in probe().list("probe", filter={"field": "g", "op": "eq", "value": "13800138001"}).items
    ] == [rid]


def test_references_cannot_change_their_target(ctx):
    from scrm.errors import ValidationFailed as Refused

    doc = current("entity", "complaint")
    for f in doc["fields"]:
        if f["name"] == "org_unit":
            f["target"] = "employee"
    with pytest.raises(Refused) as exc:
        publish(ctx, doc)
    assert exc.value.details[0].code == "E-MIGRATE-002"


def test_a_reference_alert_rules_rely_on_cannot_change_its_target(ctx):
    from scrm.errors import ValidationFailed as Refused

    doc = current("entity", "customer")
    for f in doc["fields"]:
        if f["name"] == "servicing_org":  # rules find the branch manager up this org unit's tree
            f["target"] = "employee"
    with pytest.raises(Refused) as exc:
        publish(ctx, doc)
    assert {d.code for d in exc.value.details} == {"E-ALERT-004"}


def test_json_fields_store_null_as_null_and_refuse_nan(ctx):
    from scrm.data.records import RecordService
    from scrm.errors import ValidationFailed as Refused
    from scrm.runtime import snapshot

    publish(
        ctx,
        {
            "kind": "entity",
            "name": "blob",
            "label": "Blob",
            "fields": [{"name": "title", "type": "string"}, {"name": "extra", "type": "json"}],
        },
    )
    svc = RecordService(snapshot(), None)
    empty = svc.create("blob", {"title": "a", "extra": None})["id"]
    full = svc.create("blob", {"title": "b", "extra": {"k": [1, 2]}})["id"]
    assert [r["id"] for r in svc.list("blob", filter={"field": "extra", "op": "is_null"}).items] == [empty]
    assert svc.get("blob", full)["extra"] == {"k": [1, 2]}
    with pytest.raises(Refused):
        svc.create("blob", {"title": "c", "extra": {"x": float("nan")}})
    doc = current("entity", "blob")
    doc["fields"][1]["unique"] = True
    with pytest.raises(Refused) as exc:
        publish(ctx, doc)
    assert exc.value.details[0].path == "$.fields[1].unique"
