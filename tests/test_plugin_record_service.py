"""The record hooks read two ways: ``lookup``/``find`` with system access (a derivation must not
depend on who saves) and ``svc``, the saving user's own record service, which cannot read what
the user may not."""

import pytest

from scrm.plugins import hookimpl

SEEN: list[tuple] = []


class Peek:
    """Reads another account manager's customer both ways while a customer is saved."""

    other: int | None = None

    @hookimpl
    def scrm_derive_record(self, entity, svc, lookup):
        if entity.name == "customer":
            SEEN.append(("derive", svc.user_id, _readable(svc, self.other), lookup("customer", self.other) is not None))

    @hookimpl
    def scrm_check_record(self, entity, svc, find):
        if entity.name == "customer":
            others = [r["id"] for r in find("customer", {"field": "id", "op": "eq", "value": self.other})]
            SEEN.append(("check", svc.user_id, _readable(svc, self.other), others == [self.other]))
        return []


def _readable(svc, record_id) -> bool:
    from scrm.errors import NotFound

    try:
        svc.get("customer", record_id)
    except NotFound:
        return False
    return True


@pytest.fixture
def peeking(app, am_owns_c1):
    """``Peek`` registered, and a customer of the other account manager (emp2)."""
    from scrm.data.records import RecordService
    from scrm.db import db
    from scrm.runtime import runtime, snapshot

    seed = am_owns_c1
    with app.app_context():
        svc = RecordService(snapshot(), None, system=True)
        other = svc.create("customer", {"customer_no": "310000000009", "name": "赵敏", "id_type": "cn_id",
                                        "id_number": "110105198001010016", "primary_manager": seed["emp2"],
                                        "servicing_org": seed["branch"]})["id"]  # fmt: skip
        db.session.commit()
        peek = Peek()
        peek.other = other
        runtime().plugins.pm.register(peek, name="peek")
        runtime().plugins._sources["peek"] = "folder"
    SEEN.clear()
    return seed


def test_scrm_check_record_and_scrm_derive_record_get_the_saving_users_record_service(am_api, api, peeking):
    from scrm.security.users import find_user

    seed = peeking
    saved = am_api.patch(f"/api/v1/records/customer/{seed['c1']}", json={"notes": "电话回访", "_version": 1})
    assert saved.status_code == 200, saved.json
    with am_api.client.application.app_context():
        am = find_user("am").id
    # as the account manager, svc cannot read emp2's customer; the system reads can
    assert ("derive", am, False, True) in SEEN and ("check", am, False, True) in SEEN
    SEEN.clear()
    assert (
        api.patch(f"/api/v1/records/customer/{seed['c1']}", json={"notes": "再次回访", "_version": 2}).status_code
        == 200
    )
    assert {(kind, readable, system) for kind, _user, readable, system in SEEN} == {("derive", True, True),
                                                                                   ("check", True, True)}  # fmt: skip
