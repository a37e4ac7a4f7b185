"""The dashboard editor: a new dashboard built from nothing — a dataset with a filter from the
condition builder, widgets picked by type, group-by and measure, each previewed from the draft
with real numbers — then published; bad picks are refused and leave the draft unchanged."""

import json

import pytest
from support import post

NAME = "book_watch"


def draft(app) -> dict:
    from scrm.meta import store

    with app.app_context():
        return store.get("dashboard", NAME, store.DRAFT).body


def new_dashboard(client) -> str:
    index = client.get("/design/?kind=dashboard").get_data(as_text=True)
    r = post(client, "/design/new", index, {"kind": "dashboard", "name": NAME, "label": "客户分层", "entity": "customer"},
             base=False)  # fmt: skip
    assert r.status_code == 200
    return r.get_data(as_text=True)


def test_a_dashboard_is_built_previewed_and_published(app, client, seed):
    page = new_dashboard(client)
    page = post(client, f"/design/dashboard/{NAME}/widgets", page,
                {"widget": "by_tier", "title": "客户分层", "type": "bar", "dataset": "main", "group": "asset_tier",
                 "agg": "count", "format": "0", "width": "12"}).get_data(as_text=True)  # fmt: skip
    page = post(client, f"/design/dashboard/{NAME}/widgets", page,
                {"widget": "total", "title": "客户数", "type": "kpi", "dataset": "main", "agg": "count",
                 "width": "6"}).get_data(as_text=True)  # fmt: skip
    body = draft(app)
    assert body["widgets"][0]["group_by"] == [{"field": "asset_tier", "as": "asset_tier"}]
    assert body["widgets"][0]["grid"] == {"x": 0, "y": 0, "w": 12, "h": 5}
    assert body["widgets"][1]["grid"] == {"x": 12, "y": 0, "w": 6, "h": 5}
    assert 'id="draft-problems"' not in page

    kpi = client.get(f"/design/dashboard/{NAME}/preview/total").get_data(as_text=True)
    assert 'data-value="3"' in kpi
    chart = client.get(f"/design/dashboard/{NAME}/preview/by_tier").get_data(as_text=True)
    option = json.loads(chart.split('type="application/json"', 1)[1].split(">", 1)[1].split("</script>")[0])
    assert "series" in option and sum(option["series"][0]["data"][i] if not isinstance(option["series"][0]["data"][i], dict)
                                      else option["series"][0]["data"][i]["value"]
                                      for i in range(len(option["series"][0]["data"]))) == 3  # fmt: skip

    edit = client.get(f"/design/dashboard/{NAME}?dataset=main").get_data(as_text=True)
    assert 'id="dataset-filter"' in edit
    rows = [("dsf:r:t", "group"), ("dsf:r:m", "all"), ("dsf:r.0:t", "leaf"), ("dsf:r.0:f", "asset_tier"), ("dsf:r.0:o", "ne"),
            ("dsf:r.0:v", "mass")]  # fmt: skip
    post(client, f"/design/dashboard/{NAME}/datasets/main/filter", edit, rows)
    assert draft(app)["datasets"]["main"]["filter"] == {"all": [{"field": "asset_tier", "op": "ne", "value": "mass"}]}
    assert 'data-value="2"' in client.get(f"/design/dashboard/{NAME}/preview/total").get_data(as_text=True)

    publish_page = client.get(f"/design/dashboard/{NAME}?tab=publish").get_data(as_text=True)
    assert post(client, f"/design/dashboard/{NAME}/publish", publish_page, {}, base=False).status_code == 200
    assert client.get(f"/d/{NAME}").status_code == 200
    assert 'data-value="2"' in client.get(f"/d/{NAME}/w/total").get_data(as_text=True)


@pytest.mark.parametrize(
    "data",
    [
        {"widget": "Bad Id", "type": "kpi", "dataset": "main"},
        {"widget": "w1", "type": "sparkline", "dataset": "main"},
        {"widget": "w1", "type": "bar", "dataset": "main", "group": "", "agg": "count"},
        {"widget": "w1", "type": "kpi", "dataset": "nope", "agg": "count"},
        {"widget": "w1", "type": "kpi", "dataset": "main", "agg": "sum", "of": ""},
    ],
)
def test_bad_widget_picks_are_refused(app, client, seed, data):
    page = new_dashboard(client)
    before = draft(app)
    html = post(client, f"/design/dashboard/{NAME}/widgets", page, data).get_data(as_text=True)
    assert draft(app) == before and "alert-danger" in html


def test_a_widget_that_does_not_fit_says_why_in_its_preview(app, client, seed):
    page = new_dashboard(client)
    page = post(client, f"/design/dashboard/{NAME}/widgets", page,
                {"widget": "avg_name", "type": "kpi", "dataset": "main", "agg": "avg", "of": "name"}).get_data(as_text=True)  # fmt: skip
    html = client.get(f"/design/dashboard/{NAME}/preview/avg_name").get_data(as_text=True)
    assert "$.widgets[0]" in html
