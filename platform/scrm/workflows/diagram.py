"""A ticket workflow's state machine drawn as inline SVG, on the server and without JavaScript.

States sit in columns, left to right, by their shortest distance from ``initial``. States that
cannot be reached from it go in one last column. Within a column, states are ordered by the mean
position of their predecessors, which removes some crossings. There is one edge per (from, to)
pair, its transitions' labels joined with " / ". Forward edges are straight lines; self-loops sit
on top of their box; back edges (to an earlier or the same column) are curves around the boxes.
Timed edges are dashed and event edges dotted; an edge that mixes kinds of transition is solid.

The output uses presentation attributes and classes only, never ``style=""`` (the CSP allows
no inline styles), and the same input always gives the same string, so it can be cached.
Classes for the page stylesheet: ``wf-diagram``; states ``wf-state``, ``wf-open``,
``wf-waiting``, ``wf-done``, ``wf-other``, ``wf-final``, ``wf-current``, ``wf-next``; edges
``wf-edge``, ``wf-manual``, ``wf-timed``, ``wf-event``, ``wf-back``, ``wf-loop``, ``wf-available``;
texts ``wf-label``, ``wf-name``, ``wf-edge-label``.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from markupsafe import Markup, escape

from scrm.i18n import text

__all__ = ["svg"]

BOX_H, PAD_X, MIN_BOX_W = 44, 12, 72
GAP_Y, MIN_GAP_X, MAX_GAP_X = 60, 56, 200
MARGIN_X, MARGIN_TOP, MARGIN_BOTTOM = 16, 44, 52
LABEL_SIZE, NAME_SIZE, EDGE_SIZE = 13, 10, 11
COLOURS = {"open": ("#e7f0fb", "#2f6fbf"), "waiting": ("#fdf3dc", "#b7791f"), "done": ("#e6f4ea", "#2f855a")}
OTHER_COLOURS = ("#f1f3f5", "#868e96")
EDGE_COLOUR, AVAILABLE_COLOUR = "#6c757d", "#2f6fbf"
DASHES = {"timed": "6 4", "event": "1.5 3"}


@dataclass
class _Box:
    name: str
    label: str
    category: str
    final: bool
    w: float
    layer: int = 0
    x: float = 0.0
    y: float = 0.0


@dataclass
class _Edge:
    src: str
    dst: str
    labels: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    available: bool = False


def _n(value: float) -> str:
    """A coordinate rounded to 0.1, written without a useless ``.0``."""
    return format(round(value, 1) + 0.0, "g")


def text_width(value: str, size: float) -> float:
    """Estimated rendered width: wide (CJK) characters 1em, the others 0.6em."""
    return sum(size if unicodedata.east_asian_width(c) in "WF" else 0.6 * size for c in value)


def _boxes(body: dict, locale: str) -> dict[str, _Box]:
    boxes = {}
    for name, state in (body.get("states") or {}).items():
        label = text(state.get("label"), locale, default=name)
        width = max(MIN_BOX_W, text_width(label, LABEL_SIZE) + 2 * PAD_X, text_width(name, NAME_SIZE) + 2 * PAD_X)
        boxes[name] = _Box(name, label, state.get("category", ""), bool(state.get("final")), width)
    return boxes


def _edges(body: dict, locale: str, boxes: dict[str, _Box], available: set[str], current: str | None) -> list[_Edge]:
    """One edge per (from, to) pair, in the order transitions declare them."""
    edges: dict[tuple[str, str], _Edge] = {}
    for t in body.get("transitions") or []:
        name, dst, trigger = str(t.get("name", "")), t.get("to"), t.get("trigger") or {}
        kind = "timed" if "after" in trigger else "event" if "event" in trigger else "manual"
        label = text(t.get("label"), locale, default=name)
        if kind == "timed":
            after = trigger["after"]
            label += " · " + (after if isinstance(after, str) else ", ".join(f"{v} {k}" for k, v in after.items()))
        sources = t.get("from") or []
        for src in [sources] if isinstance(sources, str) else sources:
            if src not in boxes or dst not in boxes:
                continue
            edge = edges.setdefault((src, dst), _Edge(src, dst))
            if label not in edge.labels:
                edge.labels.append(label)
            edge.kinds.append(kind)
            edge.available |= name in available and current in (None, src)
    return list(edges.values())


def _layers(initial: str | None, boxes: dict[str, _Box], edges: list[_Edge]) -> list[list[str]]:
    """Breadth-first distance from ``initial``; unreachable states in one last layer."""
    successors = defaultdict(list)
    for e in edges:
        successors[e.src].append(e.dst)
    start = initial if initial in boxes else next(iter(boxes), None)
    depth = {start: 0} if start is not None else {}
    queue = deque(depth)
    while queue:
        state = queue.popleft()
        for nxt in successors[state]:
            if nxt not in depth:
                depth[nxt] = depth[state] + 1
                queue.append(nxt)
    unreachable = max(depth.values(), default=-1) + 1
    layers: list[list[str]] = [[] for _ in range(max((depth.get(n, unreachable) for n in boxes), default=-1) + 1)]
    for name, box in boxes.items():
        box.layer = depth.get(name, unreachable)
        layers[box.layer].append(name)
    return layers


def _order_by_predecessors(layers: list[list[str]], boxes: dict[str, _Box], edges: list[_Edge]) -> None:
    """Sort each layer by the mean centred position of its predecessors, then declaration order."""
    predecessors = defaultdict(list)
    for e in edges:
        if boxes[e.src].layer < boxes[e.dst].layer:
            predecessors[e.dst].append(e.src)
    declared = {name: i for i, name in enumerate(boxes)}
    position: dict[str, float] = {}

    def key(name: str) -> tuple[float, int]:
        seen = [position[p] for p in predecessors[name] if p in position]
        return (sum(seen) / len(seen) if seen else math.inf, declared[name])

    for layer in layers:
        layer.sort(key=key)
        position.update((name, i - (len(layer) - 1) / 2) for i, name in enumerate(layer))


def _place(layers: list[list[str]], boxes: dict[str, _Box], edges: list[_Edge]) -> tuple[float, float, list[float]]:
    """Set box positions; return the width, the height and the middle of the gap after each column."""
    gaps, bulges = [float(MIN_GAP_X)] * len(layers), [0.0] * len(layers)
    for e in edges:
        layer, label = boxes[e.src].layer, text_width(" / ".join(e.labels), EDGE_SIZE)
        if layer < boxes[e.dst].layer:
            gaps[layer] = max(gaps[layer], min(MAX_GAP_X, label + 24))
        elif layer == boxes[e.dst].layer and e.src != e.dst:  # a curve on the right, its label beside it
            bulges[layer] = max(bulges[layer], min(MAX_GAP_X, label + 60))
            gaps[layer] = max(gaps[layer], bulges[layer])
    rows, x, gap_middles = max(map(len, layers), default=1), float(MARGIN_X), []
    for layer, gap in zip(layers, gaps, strict=True):
        column = max(boxes[n].w for n in layer)
        for i, name in enumerate(layer):
            box = boxes[name]
            box.x, box.y = x + (column - box.w) / 2, MARGIN_TOP + ((rows - len(layer)) / 2 + i) * (BOX_H + GAP_Y)
        gap_middles.append(x + column + gap / 2)
        x += column + gap
    width = x - (gaps[-1] if gaps else 0) + max(MARGIN_X, bulges[-1] if bulges else 0)
    return width, MARGIN_TOP + rows * (BOX_H + GAP_Y) - GAP_Y + MARGIN_BOTTOM, gap_middles


def _curve(*points: float) -> tuple[str, float, float]:
    """A cubic Bézier through four (x, y) points, and its midpoint."""
    x1, y1, c1x, c1y, c2x, c2y, x2, y2 = points
    path = f"M{_n(x1)} {_n(y1)}C{_n(c1x)} {_n(c1y)} {_n(c2x)} {_n(c2y)} {_n(x2)} {_n(y2)}"
    return path, (x1 + 3 * c1x + 3 * c2x + x2) / 8, (y1 + 3 * c1y + 3 * c2y + y2) / 8


def _geometry(a: _Box, b: _Box, gap_middles: list[float], half_label: float) -> tuple[str, float, float]:
    """The path of an edge from ``a`` to ``b`` and the centre of its label.

    Forward edges join the sides; a self-loop sits on top of its box; an edge back to an earlier
    layer arcs over the tops when it comes from higher up, under the bottoms otherwise; an edge
    within a layer bulges out on the right."""
    if a is b:
        cx, top = a.x + a.w / 2, a.y
        path, lx, ly = _curve(cx - 8, top, cx - 18, top - 28, cx + 18, top - 28, cx + 8, top)
        return path, lx, ly - 6
    if a.layer < b.layer:
        x1, y1, x2, y2 = a.x + a.w, a.y + BOX_H / 2, b.x, b.y + BOX_H / 2
        lx = gap_middles[a.layer]
        return f"M{_n(x1)} {_n(y1)}L{_n(x2)} {_n(y2)}", lx, y1 + (y2 - y1) * (lx - x1) / (x2 - x1)
    if a.layer == b.layer:
        x1, x2 = a.x + a.w, b.x + b.w
        path, lx, ly = _curve(
            x1, a.y + BOX_H / 2, x1 + 48, a.y + BOX_H / 2, x2 + 48, b.y + BOX_H / 2, x2, b.y + BOX_H / 2
        )
        return path, lx + 4 + half_label, ly
    depth = min(24 + 8 * (a.layer - b.layer), 40)
    if a.y < b.y:
        x1, x2, low = a.x + a.w / 5, b.x + b.w * 4 / 5, min(a.y, b.y) - depth
        path, lx, ly = _curve(x1, a.y, x1, low, x2, low, x2, b.y)
        return path, lx, ly - 6
    x1, x2, y1, y2 = a.x + a.w / 2 - 8, b.x + b.w / 2 + 8, a.y + BOX_H, b.y + BOX_H
    path, lx, ly = _curve(x1, y1, x1, max(y1, y2) + depth, x2, max(y1, y2) + depth, x2, y2)
    return path, lx, ly + 8


def _edge_svg(edge: _Edge, boxes: dict[str, _Box], gap_middles: list[float], marker: str) -> str:
    a, b = boxes[edge.src], boxes[edge.dst]
    label = " / ".join(edge.labels)
    half = text_width(label, EDGE_SIZE) / 2 + 3
    path, lx, ly = _geometry(a, b, gap_middles, half)
    kinds = sorted(set(edge.kinds))
    classes = ["wf-edge", *(f"wf-{k}" for k in kinds)]
    classes += ["wf-loop"] if a is b else ["wf-back"] if b.layer <= a.layer else []
    classes += ["wf-available"] if edge.available else []
    dash = f' stroke-dasharray="{DASHES[kinds[0]]}"' if len(kinds) == 1 and kinds[0] in DASHES else ""
    colour, arrow = (AVAILABLE_COLOUR, f"{marker}-on") if edge.available else (EDGE_COLOUR, marker)
    beside = a is not b and a.layer == b.layer  # the label starts right of the curve
    tx, anchor = (lx - half + 3, "start") if beside else (lx, "middle")
    return (
        f'<g class="{" ".join(classes)}" data-from="{escape(edge.src)}" data-to="{escape(edge.dst)}">'
        f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="{2 if edge.available else 1.3}"{dash}'
        f' marker-end="url(#{arrow})"/>'
        f'<rect x="{_n(lx - half)}" y="{_n(ly - 8)}" width="{_n(2 * half)}" height="15" rx="3"'
        ' fill="#ffffff" fill-opacity="0.85"/>'
        f'<text class="wf-edge-label" x="{_n(tx)}" y="{_n(ly + 4)}" text-anchor="{anchor}"'
        f' font-size="{EDGE_SIZE}" fill="#495057">{escape(label)}</text></g>'
    )


def _box_svg(box: _Box, current: str | None, targets: set[str]) -> str:
    fill, stroke = COLOURS.get(box.category, OTHER_COLOURS)
    is_current = box.name == current
    classes = ["wf-state", f"wf-{box.category}" if box.category in COLOURS else "wf-other"]
    classes += ["wf-final"] * box.final + ["wf-current"] * is_current + ["wf-next"] * (box.name in targets)
    rect = '<rect x="{}" y="{}" width="{}" height="{}" rx="{}" fill="{}" stroke="{}" stroke-width="{}"/>'
    parts = [rect.format(_n(box.x), _n(box.y), _n(box.w), BOX_H, 8, fill, stroke, 3 if is_current else 1.5)]
    if box.final:  # a double border
        parts.append(rect.format(_n(box.x + 3), _n(box.y + 3), _n(box.w - 6), BOX_H - 6, 6, "none", stroke, 1))
    cx, weight = _n(box.x + box.w / 2), "bold" if is_current else "normal"
    parts.append(
        f'<text class="wf-label" x="{cx}" y="{_n(box.y + 20)}" text-anchor="middle" font-size="{LABEL_SIZE}"'
        f' font-weight="{weight}" fill="#212529">{escape(box.label)}</text>'
        f'<text class="wf-name" x="{cx}" y="{_n(box.y + 35)}" text-anchor="middle" font-size="{NAME_SIZE}"'
        f' fill="#868e96">{escape(box.name)}</text>'
    )
    aria = ' aria-current="true"' if is_current else ""
    return f'<g class="{" ".join(classes)}" data-state="{escape(box.name)}"{aria}>{"".join(parts)}</g>'


def _markers(marker: str) -> str:
    arrow = (
        '<marker id="{}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8"'
        ' markerUnits="userSpaceOnUse" orient="auto">'
        '<path d="M0 0L10 5L0 10z" fill="{}"/></marker>'
    )
    return f"<defs>{arrow.format(marker, EDGE_COLOUR)}{arrow.format(marker + '-on', AVAILABLE_COLOUR)}</defs>"


def svg(body: dict, *, locale: str = "zh_CN", current: str | None = None, available: Iterable[str] = ()) -> Markup:
    """The workflow ``body`` as an ``<svg>`` element; ``current`` is highlighted, and the states that
    the transitions named in ``available`` lead to are marked ``wf-next``."""
    names = set(available)
    boxes = _boxes(body, locale)
    edges = _edges(body, locale, boxes, names, current)
    layers = _layers(body.get("initial"), boxes, edges)
    _order_by_predecessors(layers, boxes, edges)
    width, height, gap_middles = _place(layers, boxes, edges)
    targets = {t.get("to") for t in body.get("transitions") or [] if t.get("name") in names}
    marker = "wf-arrow-" + re.sub(r"[^A-Za-z0-9_-]", "_", str(body.get("name", "workflow")))
    title = text(body.get("label"), locale, default=str(body.get("name", "")))
    summary = ": ".join(filter(None, [title, ", ".join(boxes[n].label for layer in layers for n in layer)]))
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="wf-diagram" role="img" aria-label="{escape(summary)}"'
        f' width="100%" viewBox="0 0 {_n(width)} {_n(height)}" font-family="system-ui, sans-serif">'
        f"<title>{escape(summary)}</title>{_markers(marker)}"
        + "".join(_edge_svg(e, boxes, gap_middles, marker) for e in edges)
        + "".join(_box_svg(boxes[n], current, targets) for layer in layers for n in layer)
        + "</svg>"
    )
