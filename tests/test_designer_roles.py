"""The role editor: the permission matrix saves exactly what was ticked (and keeps row filters and
field rules it cannot show), field access is set per entity, and the published role takes effect
for its users without a restart."""

from support import form_data, post


def draft(app, name: str) -> dict:
    from scrm.meta import store

    with app.app_context():
        return store.get("role", name, store.DRAFT).body


def published(app, name: str) -> dict:
    from scrm.meta import store

    with app.app_context():
        return store.get("role", name, store.PUBLISHED).body


def section(page: str, form_id: str) -> str:
    start = page.index(f'id="{form_id}"')
    return '<form class="scrm-form"><div ' + page[start : page.index("</form>", start)] + "</div></form>"


def test_the_matrix_saves_what_is_ticked_and_keeps_the_rest(app, client, seed):
    page = client.get("/design/role/account_manager").get_data(as_text=True)
    pairs = [(k, v) for k, v in form_data(section(page, "role-matrix")) if k not in ("csrf_token", "base")]
    before = published(app, "account_manager")["permissions"]
    assert ("a:customer", "delete") not in pairs
    pairs = [p for p in pairs if p != ("a:task", "export")] + [("a:customer", "delete")]
    post(client, "/design/role/account_manager/matrix", page, pairs)
    after = draft(app, "account_manager")["permissions"]
    assert after["customer"]["actions"] == [*before["customer"]["actions"], "delete"]
    assert after["customer"]["fields"] == before["customer"]["fields"]
    assert "export" not in after["task"]["actions"]
    assert {k: v for k, v in after.items() if k not in ("customer", "task")} == {
        k: v for k, v in before.items() if k not in ("customer", "task")
    }


def test_an_entity_without_actions_leaves_the_role(app, client, seed):
    page = client.get("/design/role/account_manager").get_data(as_text=True)
    pairs = [(k, v) for k, v in form_data(section(page, "role-matrix")) if not k.startswith("a:feedback")]
    post(client, "/design/role/account_manager/matrix", page, [p for p in pairs if p[0] not in ("csrf_token", "base")])
    assert "feedback" not in draft(app, "account_manager")["permissions"]


def test_field_access_is_set_per_entity_and_takes_effect_when_published(app, client, am_client, am_owns_c1):
    page = client.get("/design/role/account_manager?entity=customer").get_data(as_text=True)
    assert 'id="field-access"' in page
    pairs = [(k, v) for k, v in form_data(section(page, "field-access")) if k.startswith("f:")]
    pairs = [(k, "hidden" if k == "f:notes" else v) for k, v in pairs]
    post(client, "/design/role/account_manager/fields/customer", page, pairs)
    assert draft(app, "account_manager")["permissions"]["customer"]["fields"]["notes"] == "hidden"
    assert 'name="notes"' in am_client.get(f"/e/customer/{am_owns_c1['c1']}/edit").get_data(as_text=True)
    publish_page = client.get("/design/role/account_manager?tab=publish").get_data(as_text=True)
    assert post(client, "/design/role/account_manager/publish", publish_page, {}, base=False).status_code == 200
    assert 'name="notes"' not in am_client.get(f"/e/customer/{am_owns_c1['c1']}/edit").get_data(as_text=True)
