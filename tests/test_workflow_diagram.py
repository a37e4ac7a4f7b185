"""The workflow diagram (scrm.workflows.diagram): a pure function from a workflow body to inline
SVG, checked on the parsed XML. No database and no Flask app: labels are resolved with an
explicit locale."""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET

import pytest
from markupsafe import Markup

from scrm.workflows.diagram import svg, text_width

NS = {"svg": "http://www.w3.org/2000/svg"}

BODY = {
    "kind": "workflow",
    "name": "demo_ticket",
    "initial": "new",
    "states": {
        "new": {"label": {"zh-CN": "新建", "en": "New"}, "category": "open"},
        "triage": {"label": {"zh-CN": "分诊", "en": "Triage"}, "category": "open"},
        "in_progress": {"label": {"zh-CN": "处理中", "en": "In progress"}, "category": "open"},
        "waiting": {"label": {"zh-CN": "等待 <客户> & 回复", "en": "Waiting"}, "category": "waiting"},
        "resolved": {"label": {"zh-CN": "已解决", "en": "Resolved"}, "category": "done"},
        "closed": {"label": {"zh-CN": "已关闭", "en": "Closed"}, "category": "done", "final": True},
        "archived": {"label": {"zh-CN": "已归档"}, "category": "done", "final": True},  # unreachable
    },
    "transitions": [
        {"name": "triage", "label": {"zh-CN": "分诊", "en": "Triage"}, "from": ["new"], "to": "triage"},
        {"name": "start", "label": {"zh-CN": "开始", "en": "Start"}, "from": ["triage"], "to": "in_progress"},
        {"name": "reassign", "label": {"zh-CN": "改派", "en": "Reassign"}, "from": ["in_progress"], "to": "in_progress"},
        {"name": "ask", "label": {"zh-CN": "询问 <b>&", "en": "Ask"}, "from": ["in_progress"], "to": "waiting"},
        {"name": "reply", "from": ["waiting"], "to": "in_progress", "trigger": {"event": "ticket.customer_message"}},
        {"name": "resolve", "label": {"zh-CN": "解决", "en": "Resolve"}, "from": ["in_progress", "waiting"], "to": "resolved"},
        {"name": "reopen", "from": ["resolved"], "to": "in_progress"},
        {"name": "close", "label": {"zh-CN": "关闭", "en": "Close"}, "from": ["resolved"], "to": "closed"},
        {"name": "auto_close", "label": {"zh-CN": "自动关闭"}, "from": ["resolved"], "to": "closed",
         "trigger": {"after": "P3D", "since": "state_entered"}},
        {"name": "expire", "label": {"zh-CN": "超时关闭"}, "from": ["waiting"], "to": "closed", "trigger": {"after": "P7D"}},
        {"name": "purge", "from": ["archived"], "to": "closed"},
    ],
}  # fmt: skip

PAIRS = {(src, t["to"]) for t in BODY["transitions"] for src in t["from"]}


def parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))


def states(root: ET.Element) -> dict[str, ET.Element]:
    found = root.findall(".//svg:g[@data-state]", NS)
    assert len(found) == len({g.get("data-state") for g in found}), "one box per state"
    return {g.get("data-state"): g for g in found}


def edges(root: ET.Element) -> dict[tuple[str, str], ET.Element]:
    found = root.findall(".//svg:g[@data-from]", NS)
    pairs = [(g.get("data-from"), g.get("data-to")) for g in found]
    assert len(pairs) == len(set(pairs)), "one edge per (from, to) pair"
    return dict(zip(pairs, found, strict=True))


def classes(element: ET.Element) -> set[str]:
    return set(element.get("class", "").split())


def box_x(group: ET.Element) -> float:
    return float(group.find("svg:rect", NS).get("x"))


def test_is_well_formed_accessible_responsive_svg():
    out = svg(BODY)
    assert isinstance(out, Markup)
    root = parse(out)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("role") == "img" and "新建" in root.get("aria-label")
    assert root[0].tag.endswith("title") and root[0].text == root.get("aria-label")
    assert root.get("width") == "100%" and root.get("height") is None
    x, y, width, height = map(float, root.get("viewBox").split())
    assert (x, y) == (0, 0) and 0 < width <= 1000 and 0 < height < width


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("zh_CN", {"new": "新建", "waiting": "等待 <客户> & 回复", "closed": "已关闭", "archived": "已归档"}),
        ("en", {"new": "New", "waiting": "Waiting", "closed": "Closed", "archived": "已归档"}),
    ],
)
def test_every_state_has_one_box_with_its_label_and_name(locale, expected):
    boxes = states(parse(svg(BODY, locale=locale)))
    assert set(boxes) == set(BODY["states"])
    for name, group in boxes.items():
        assert group.find("svg:text[@class='wf-name']", NS).text == name
        assert group.find("svg:rect", NS) is not None
    for name, label in expected.items():
        assert boxes[name].find("svg:text[@class='wf-label']", NS).text == label


@pytest.mark.parametrize(
    ("name", "category", "final"),
    [
        ("new", "wf-open", False),
        ("waiting", "wf-waiting", False),
        ("resolved", "wf-done", False),
        ("closed", "wf-done", True),
    ],
)
def test_states_are_coloured_by_category_and_final_ones_have_a_double_border(name, category, final):
    group = states(parse(svg(BODY)))[name]
    assert category in classes(group)
    assert ("wf-final" in classes(group)) is final
    assert len(group.findall("svg:rect", NS)) == (2 if final else 1)


def test_every_from_to_pair_has_one_edge_with_an_arrowhead():
    root = parse(svg(BODY))
    found = edges(root)
    assert set(found) == PAIRS
    marker_ids = {m.get("id") for m in root.findall(".//svg:marker", NS)}
    for group in found.values():
        assert group.find("svg:path", NS).get("marker-end")[len("url(#") : -1] in marker_ids


@pytest.mark.parametrize(
    ("pair", "label"),
    [
        (("resolved", "closed"), "关闭 / 自动关闭 · P3D"),
        (("waiting", "closed"), "超时关闭 · P7D"),
        (("resolved", "in_progress"), "reopen"),  # no label: the transition's name
        (("in_progress", "in_progress"), "改派"),
    ],
)
def test_edge_labels(pair, label):
    assert edges(parse(svg(BODY)))[pair].find("svg:text", NS).text == label


@pytest.mark.parametrize(
    ("pair", "dasharray", "kind"),
    [
        (("waiting", "closed"), "6 4", "wf-timed"),
        (("waiting", "in_progress"), "1.5 3", "wf-event"),
        (("new", "triage"), None, "wf-manual"),
        (("resolved", "closed"), None, "wf-timed"),  # a manual and a timed transition: solid
    ],
)
def test_timed_edges_are_dashed_and_event_edges_dotted(pair, dasharray, kind):
    group = edges(parse(svg(BODY)))[pair]
    assert group.find("svg:path", NS).get("stroke-dasharray") == dasharray
    assert kind in classes(group)


@pytest.mark.parametrize(
    ("pair", "shape"),
    [
        (("in_progress", "in_progress"), "wf-loop"),
        (("waiting", "in_progress"), "wf-back"),
        (("resolved", "in_progress"), "wf-back"),
        (("archived", "closed"), "wf-back"),
        (("waiting", "resolved"), "wf-back"),  # same layer
        (("in_progress", "waiting"), None),
    ],
)
def test_self_loops_and_back_edges_are_marked_and_curved(pair, shape):
    group = edges(parse(svg(BODY)))[pair]
    assert ({"wf-loop", "wf-back"} & classes(group)) == ({shape} if shape else set())
    assert ("C" in group.find("svg:path", NS).get("d")) is bool(shape)


def test_layers_follow_the_distance_from_initial_and_unreachable_states_come_last():
    boxes = states(parse(svg(BODY)))
    centre = {name: box_x(g) + float(g.find("svg:rect", NS).get("width")) / 2 for name, g in boxes.items()}
    assert centre["new"] < centre["triage"] < centre["in_progress"] < centre["waiting"] < centre["closed"]
    assert centre["waiting"] == centre["resolved"]
    assert centre["archived"] == max(centre.values())


@pytest.mark.parametrize("current", ["new", "in_progress", "closed", "archived"])
def test_the_current_state_is_highlighted(current):
    boxes = states(parse(svg(BODY, current=current)))
    for name, group in boxes.items():
        assert (group.get("aria-current") == "true") is (name == current)
        assert ("wf-current" in classes(group)) is (name == current)
    assert float(boxes[current].find("svg:rect", NS).get("stroke-width")) > 2


def test_nothing_is_current_or_next_by_default():
    root = parse(svg(BODY))
    assert root.find(".//*[@aria-current]", NS) is None
    assert not any({"wf-current", "wf-next", "wf-available"} & classes(e) for e in root.iter())


@pytest.mark.parametrize(
    ("current", "available", "targets", "pairs"),
    [
        ("in_progress", ["ask", "resolve", "reassign"], {"waiting", "resolved", "in_progress"},
         {("in_progress", "waiting"), ("in_progress", "resolved"), ("in_progress", "in_progress")}),
        ("resolved", ("reopen", "close"), {"in_progress", "closed"}, {("resolved", "in_progress"), ("resolved", "closed")}),
        ("waiting", iter(["resolve"]), {"resolved"}, {("waiting", "resolved")}),
    ],
)  # fmt: skip
def test_targets_of_available_transitions_are_marked_next(current, available, targets, pairs):
    root = parse(svg(BODY, current=current, available=available))
    assert {name for name, g in states(root).items() if "wf-next" in classes(g)} == targets
    assert {pair for pair, g in edges(root).items() if "wf-available" in classes(g)} == pairs


def test_text_is_escaped():
    out = str(svg(BODY))
    assert "<b>" not in out and "<客户>" not in out
    assert "询问 &lt;b&gt;&amp;" in out and "等待 &lt;客户&gt; &amp; 回复" in out
    assert edges(parse(out))[("in_progress", "waiting")].find("svg:text", NS).text == "询问 <b>&"


def test_hostile_names_stay_inside_their_attributes():
    body = copy.deepcopy(BODY)
    body["name"] = 'x" onload="alert(1)'
    body["states"]['"><script>'] = {"label": "<script>alert(1)</script>", "category": "open"}
    body["transitions"].append({"name": "<i>", "from": ["new"], "to": '"><script>'})
    root = parse(svg(body, current='"><script>', available=["<i>"]))
    assert not any(e.tag.endswith("script") or "onload" in e.attrib for e in root.iter())
    assert states(root)['"><script>'].find("svg:text[@class='wf-label']", NS).text == "<script>alert(1)</script>"


def test_no_inline_style_attributes():
    out = str(svg(BODY, current="in_progress", available=["ask"]))
    assert "style=" not in out
    assert not any("style" in element.attrib for element in parse(out).iter())


def test_output_is_deterministic():
    first = svg(BODY, current="in_progress", available=["ask", "resolve"])
    assert svg(copy.deepcopy(BODY), current="in_progress", available=("resolve", "ask", "ask")) == first
    assert svg(BODY) != first


@pytest.mark.parametrize(
    "body",
    [
        {"states": {}, "transitions": []},
        {"initial": "a", "states": {"a": {"label": "A", "category": "open"}}},
        {"initial": "missing", "states": {"a": {"category": "open"}, "b": {}}, "transitions": [{"name": "x", "from": ["a"], "to": "nowhere"}]},
    ],
)  # fmt: skip
def test_small_or_odd_bodies_still_draw(body):
    root = parse(svg(body))
    assert set(states(root)) == set(body["states"])
    assert edges(root) == {}


def test_wide_characters_count_as_one_em():
    assert text_width("处理中", 10) == 30
    assert text_width("abc", 10) == pytest.approx(18)
    boxes = states(parse(svg(BODY)))
    assert float(boxes["waiting"].find("svg:rect", NS).get("width")) > float(
        boxes["new"].find("svg:rect", NS).get("width")
    )


@pytest.mark.parametrize(("after", "shown"), [("PT30M", "PT30M"), ({"hours": 2}, "2 hours")])
def test_the_duration_of_a_timer_is_in_its_label(after, shown):
    body = copy.deepcopy(BODY)
    body["transitions"][-2]["trigger"] = {"after": after}
    assert edges(parse(svg(body)))[("waiting", "closed")].find("svg:text", NS).text == f"超时关闭 · {shown}"
