"""Masking formats (domain reference §2.3) and how role grants combine into field access."""

from __future__ import annotations

import pytest

from scrm.meta.model import FieldDef
from scrm.security.masking import mask
from scrm.security.permissions import Permissions


@pytest.mark.parametrize(
    ("rule", "value", "shown"),
    [
        ("name", "张三", "张*"),
        ("name", "张小明", "张*明"),
        ("name", "欧阳小明", "欧阳**明"),
        ("name", "欧阳明", "欧阳*明"),
        ("name", "Li", "L*"),
        ("id_number", "110101199003071234", "110***********1234"),
        ("id_number", "12345", "******"),
        ("mobile", "13812345678", "138****5678"),
        ("mobile", "+86 138 1234 5678", "+86 138****5678"),
        ("landline", "010-62345678", "010-****5678"),
        ("bank_card", "6222021234567890123", "622202*********0123"),
        ("account_no", "1234563456", "******3456"),
        ("email", "zhangsan@example.com", "z*******@example.com"),
        ("address", "北京市海淀区中关村大街1号", "北京市海淀区******"),
        ("address", "广东省深圳市南山区科技园8栋", "广东省深圳市南山区******"),
        ("amount_band", "1234567.89", "100万–500万"),
        ("amount_band", 5000, "1万以下"),
        ("full", "anything", "******"),
        ("free_text", "客户手机13812345678，身份证110101199003071234，卡号6222021234567890123。", "客户手机138****5678，身份证110***********1234，卡号622202*********0123。"),
        ("free_text", "回访正常，客户满意。", "回访正常，客户满意。"),
    ],
)  # fmt: skip
def test_masking_formats(rule, value, shown):
    assert mask(rule, value) == shown


@pytest.mark.parametrize("value", [None, "", []])
def test_empty_values_stay_empty(value):
    assert mask("id_number", value) == value


class FakeSnapshot:
    def __init__(self, roles: dict[str, dict]):
        self.documents = {("role", name): {"name": name, **doc} for name, doc in roles.items()}
        self._cache = {}

    def cached(self, key, factory):
        if key not in self._cache:
            self._cache[key] = factory()
        return self._cache[key]


ID = FieldDef("customer", {"name": "id_number", "type": "string", "mask": "id_number"})
NAME = FieldDef("customer", {"name": "name", "type": "string", "mask": "name"})
NOTES = FieldDef("customer", {"name": "notes", "type": "text", "mask": "free_text"})
TIER = FieldDef("customer", {"name": "tier", "type": "enum"})
SNAP = FakeSnapshot(
    {
        "viewer": {"permissions": {"customer": {"actions": ["read"], "scope": "own"}}},
        "editor": {"permissions": {"customer": {"actions": ["read", "update"], "scope": "team",
                                                "fields": {"id_number": "reveal", "tier": "read"}}}},
        "auditor": {"permissions": {"*": {"actions": ["read"], "scope": "all", "fields": {"*": "hidden"}}}},
        "plain": {"permissions": {"customer": {"actions": ["read"], "scope": "own",
                                               "fields": {"id_number": {"view": "plain", "export": "never"}}}}},
    }
)  # fmt: skip


class Customer:
    name = "customer"
    plural_label = "customers"


@pytest.mark.parametrize(
    ("roles", "field", "view", "write", "reveal"),
    [
        (["viewer"], ID, "masked", False, False),  # C2-sensitive: masked unless the role says otherwise
        (["viewer"], NAME, "plain", False, False),  # a name is C2 but not C2-sensitive
        (["viewer"], NOTES, "masked", False, False),  # free text: its numbers are masked
        (["viewer"], TIER, "plain", False, False),
        (["editor"], ID, "masked", True, True),
        (["editor"], TIER, "plain", False, False),  # "read": shown, not written
        (["editor"], NAME, "plain", True, False),
        (["auditor"], TIER, "hidden", False, False),
        (["viewer", "editor"], ID, "masked", True, True),  # the most generous combination
        (["viewer", "auditor"], TIER, "plain", False, False),
        (["viewer", "plain"], ID, "plain", False, False),
        ([], TIER, "hidden", False, False),  # no role, nothing
    ],
)
def test_field_access_combines_across_roles(roles, field, view, write, reveal):
    access = Permissions(SNAP, roles).field(Customer(), field)
    assert (access.view, access.write, access.reveal) == (view, write, reveal)


def test_actions_and_scopes_combine_across_roles():
    both = Permissions(SNAP, ["viewer", "editor"])
    assert both.can("customer", "update") and not both.can("customer", "delete")
    assert both.scope("customer") == "team"
    assert Permissions(SNAP, ["viewer", "auditor"]).scope("customer") == "all"
    assert Permissions(SNAP, ["auditor"]).can("trade", "read")  # the "*" entity
    assert not Permissions(SNAP, ["viewer"]).can("trade", "read")
    assert Permissions.everything(SNAP).can("anything", "delete")
