"""The alert-rule editor: a new rule built from nothing (condition in the builder, an action,
timing and deduplication), its draft tried in a dry run that explains each match, then published;
bad input is refused at its field and nothing typed is lost."""

import re

import pytest
from support import post

HNW = [("cond:r:t", "group"), ("cond:r:m", "all"), ("cond:r.0:t", "leaf"), ("cond:r.0:f", "asset_tier"),
       ("cond:r.0:o", "eq"), ("cond:r.0:v", "hnw"), ("scope:r:t", "group"), ("scope:r:m", "all")]  # fmt: skip


def new_alert(client, name="alr_hnw_watch") -> str:
    index = client.get("/design/?kind=alert").get_data(as_text=True)
    r = post(client, "/design/new", index, {"kind": "alert", "name": name, "label": "高净值关注", "entity": "customer"},
             base=False)  # fmt: skip
    assert r.status_code == 200
    return r.get_data(as_text=True)


def draft(app, name="alr_hnw_watch") -> dict:
    from scrm.meta import store

    with app.app_context():
        return store.get("alert", name, store.DRAFT).body


def test_a_rule_is_built_tried_and_published(app, client, seed):
    page = new_alert(client)
    assert 'id="alert-conditions"' in page and 'id="cb-cond"' in page
    page = post(client, "/design/alert/alr_hnw_watch/conditions", page, HNW).get_data(as_text=True)
    assert draft(app)["condition"] == {"all": [{"field": "asset_tier", "op": "eq", "value": "hnw"}]}
    assert "scope" not in draft(app)
    page = post(client, "/design/alert/alr_hnw_watch/actions", page,
                {"do": "create_task", "who": "primary_manager", "title": "关注高净值客户 {{record.name}}",
                 "title_en": "Look after {{record.name}}", "priority": "P2", "due": "P2D"}).get_data(as_text=True)  # fmt: skip
    assert draft(app)["actions"] == [{"do": "create_task", "assign_to": {"field": "primary_manager"},
                                      "title": {"zh-CN": "关注高净值客户 {{record.name}}", "en": "Look after {{record.name}}"},
                                      "priority": "P2", "due": "P2D"}]  # fmt: skip
    page = post(client, "/design/alert/alr_hnw_watch/settings", page,
                [("entity", "customer"), ("severity", "high"), ("enabled", "1"), ("timing", "schedule"),
                 ("cron", "0  9 * * 1-5"), ("tz", "Asia/Shanghai"), ("dedupe", "rule"), ("dedupe", "record"),
                 ("dedupe", "month"), ("cooldown", "P7D")]).get_data(as_text=True)  # fmt: skip
    body = draft(app)
    assert body["schedule"] == {"cron": "0 9 * * 1-5", "tz": "Asia/Shanghai"}
    assert body["dedupe"] == {"key": ["rule", "record", "month"], "cooldown": "P7D"}
    assert body["severity"] == "high" and body["enabled"] is True
    assert 'id="draft-problems"' not in page

    tried = client.post("/design/alert/alr_hnw_watch/dry-run", headers={"X-CSRFToken": csrf_of(page)})
    html = tried.get_data(as_text=True)
    assert tried.status_code == 200 and "王芳" in html and "asset_tier = hnw" in html
    assert "刘强" not in html

    publish_page = client.get("/design/alert/alr_hnw_watch?tab=publish").get_data(as_text=True)
    done = post(client, "/design/alert/alr_hnw_watch/publish", publish_page, {}, base=False)
    assert done.status_code == 200
    from scrm.alerts.model import rules_of
    from scrm.runtime import snapshot

    with app.app_context():
        assert rules_of(snapshot())["alr_hnw_watch"].severity == "high"


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_a_draft_with_problems_is_not_tried(app, client, seed):
    page = new_alert(client, "alr_unfinished")
    html = client.post("/design/alert/alr_unfinished/dry-run", headers={"X-CSRFToken": csrf_of(page)}).get_data(
        as_text=True
    )
    assert "$.condition" in html or "$.actions" in html


@pytest.mark.parametrize(
    "form, message",
    [
        ({"timing": "schedule", "cron": "every day", "entity": "customer"}, "cron"),
        ({"timing": "schedule", "cron": "0 8 * * *", "cooldown": "7 days", "entity": "customer"}, "P7D"),
        ({"timing": "schedule", "cron": "0 8 * * *", "entity": "nope"}, ""),
    ],
)
def test_bad_settings_are_refused_and_nothing_changes(app, client, seed, form, message):
    page = new_alert(client)
    before = draft(app)
    html = post(client, "/design/alert/alr_hnw_watch/settings", page, form).get_data(as_text=True)
    assert draft(app) == before
    assert "alert-danger" in html and message in html


def test_a_row_with_a_problem_keeps_what_was_typed(app, client, seed):
    page = new_alert(client)
    rows = [("cond:r:t", "group"), ("cond:r:m", "any"), ("cond:r.0:t", "leaf"), ("cond:r.0:f", "investment_experience_years"),
            ("cond:r.0:o", "gt"), ("cond:r.0:v", "lots"), ("scope:r:t", "group")]  # fmt: skip
    r = post(client, "/design/alert/alr_hnw_watch/conditions", page, rows)
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert 'value="lots"' in html and "scrm-cb-error" in html
    assert "condition" not in draft(app)


def test_changing_the_entity_with_a_condition_is_refused(app, client, seed):
    page = new_alert(client)
    page = post(client, "/design/alert/alr_hnw_watch/conditions", page, HNW).get_data(as_text=True)
    html = post(client, "/design/alert/alr_hnw_watch/settings", page,
                {"entity": "account", "timing": "schedule", "cron": "0 8 * * *"}).get_data(as_text=True)  # fmt: skip
    assert draft(app)["entity"] == "customer"
    assert "alert-danger" in html


def test_metrics_are_added_and_removed(app, client, seed):
    page = new_alert(client)
    page = post(client, "/design/alert/alr_hnw_watch/metrics", page,
                {"metric": "trades_30d", "fn": "count", "rel": "trades", "window_field": "trade_time",
                 "window_from": "now-30d"}).get_data(as_text=True)  # fmt: skip
    assert draft(app)["metrics"] == {"trades_30d": {"agg": "count", "rel": "trades",
                                                    "window": {"field": "trade_time", "from": "now-30d", "to": "now"}}}  # fmt: skip
    post(client, "/design/alert/alr_hnw_watch/metrics/remove", page, {"metric": "trades_30d"})
    assert "metrics" not in draft(app)
