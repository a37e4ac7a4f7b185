"""Form rules decided by the server: show, hide, enable, disable and require.

A layout node (tab, section, field, note) may carry ``rules: [{effect, when}]``. As in JSON
Forms, a false condition applies the opposite effect. A node is visible iff all of its ``show``
rules hold and none of its ``hide`` rules does, and its parent is visible; likewise for
``enable``/``disable``. A field is required iff the entity says so or one of its ``require`` rules
holds, *and* it is visible.

The same evaluation serves three places: the form page (hidden regions rendered hidden), the
htmx round trip while the user types (only the regions whose state changed are swapped), and
every save through the record service, forms and API alike (values for hidden or disabled
fields are dropped, requirements are checked on what is visible).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..conditions import ConditionError, Environment
from ..meta.model import EntityDef, FormDef
from .evaluation import PreparedCondition, prepared

SHOWN = "show"
EFFECTS = ("show", "hide", "enable", "disable", "require")


@dataclass(frozen=True, slots=True)
class NodeState:
    visible: bool = True
    enabled: bool = True
    required: bool = False

    @property
    def signature(self) -> str:
        """A short text of the state, sent back by the page so that only changed regions swap."""
        return ("v" if self.visible else "h") + ("e" if self.enabled else "d") + ("r" if self.required else "o")

    def within(self, parent: NodeState) -> NodeState:
        """This node's state inside ``parent`` (hidden or disabled containers pass it on)."""
        return NodeState(self.visible and parent.visible, self.enabled and parent.enabled, self.required)


OPEN = NodeState()


@dataclass(frozen=True)
class RuleNode:
    key: str
    rules: tuple[tuple[str, PreparedCondition], ...]

    def state(self, record: Mapping[str, Any], env: Environment) -> NodeState:
        visible = enabled = True
        required = False
        for effect, cond in self.rules:
            holds = bool(cond.predicate(record, env))
            if effect == "show":
                visible = visible and holds
            elif effect == "hide":
                visible = visible and not holds
            elif effect == "enable":
                enabled = enabled and holds
            elif effect == "disable":
                enabled = enabled and not holds
            elif effect == "require":
                required = required or holds
        return NodeState(visible, enabled, required)


@dataclass
class FormRules:
    """The rules of one form, prepared once per published revision."""

    entity: EntityDef
    nodes: dict[str, RuleNode] = field(default_factory=dict)
    placements: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)  # field → chains of rule keys
    deps: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.nodes)

    def evaluate(self, record: Mapping[str, Any], env: Environment) -> dict[str, NodeState]:
        """Each rule-bearing node's own state (before what its containers pass on)."""
        return {key: node.state(record, env) for key, node in self.nodes.items()}

    def field_states(self, record: Mapping[str, Any], env: Environment) -> dict[str, NodeState]:
        """The effective state of every field a rule reaches. A field placed twice is visible
        (enabled, required) if one of its placements is."""
        own = self.evaluate(record, env)
        out: dict[str, NodeState] = {}
        for name, chains in self.placements.items():
            best: NodeState | None = None
            for chain in chains:
                state = OPEN
                for key in chain:
                    state = own[key].within(state)
                if best is None:
                    best = state
                else:
                    best = NodeState(
                        best.visible or state.visible, best.enabled or state.enabled, best.required or state.required
                    )
            out[name] = best or OPEN
        return out


def node_key(node: dict, path: tuple[int, ...]) -> str:
    """A stable key for a layout node: its declared id, else its position in the tree."""
    return node.get("id") or "n" + "_".join(map(str, path))


def walk(layout: dict, path: tuple[int, ...] = ()) -> Iterator[tuple[dict, tuple[int, ...]]]:
    yield layout, path
    for i, child in enumerate(layout.get("items", [])):
        yield from walk(child, (*path, i))


def form_rules(snapshot, entity: EntityDef, form: FormDef | None = None, *, draft: bool = False) -> FormRules:
    """The rules of ``form`` (by default the entity's form), cached per published revision; a
    ``draft`` form (the designer's preview) is prepared afresh, apart from the published one."""
    form = form or snapshot.form_for(entity)
    if form is None:
        return FormRules(entity)

    def build() -> FormRules:
        rules = FormRules(entity)
        deps: set[str] = set()
        _collect(snapshot, entity, None if draft else form.name, form.layout, (), (), rules, deps)
        rules.deps = frozenset(deps)
        return rules

    return build() if draft else snapshot.cached(("form_rules", entity.name, form.name), build)


def _collect(snapshot, entity, form_name, node, path, chain, rules: FormRules, deps: set[str]) -> None:
    """Prepare the rules of ``node`` and below; a published form's are cached under their place
    (``form_name``), a draft's (``None``) under their own JSON."""
    key = node_key(node, path)
    prepared_rules = []
    for i, rule in enumerate(node.get("rules", [])):
        if rule.get("effect") not in EFFECTS:
            continue
        try:
            place = ("form", form_name, key, i) if form_name else None
            cond = prepared(snapshot, rule["when"], entity, "form", key=place)
        except ConditionError:
            continue  # checked when the form was published; a rule that no longer prepares is left out
        prepared_rules.append((rule["effect"], cond))
        deps.update(p.split(".")[0] for p in cond.deps.paths)
    if prepared_rules:
        rules.nodes[key] = RuleNode(key, tuple(prepared_rules))
        chain = (*chain, key)
    if node.get("type") == "field":
        f = entity.field(node.get("field", ""))
        if f is not None and chain:
            rules.placements.setdefault(f.name, []).append(chain)
        elif f is not None:
            rules.placements.setdefault(f.name, []).append(())
        return
    for i, child in enumerate(node.get("items", [])):
        _collect(snapshot, entity, form_name, child, (*path, i), chain, rules, deps)
