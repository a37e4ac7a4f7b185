"""Phase B: what JSON Schema cannot see — references between documents, field types, duplicates,
cycles and conditions. It runs only on documents that passed phase A, never raises on odd
input, and reports :class:`Problem` objects in the same shape as phase A."""

from __future__ import annotations

from ..conditions.check import ConditionChecker, document_source
from ..fields import ConversionError, FieldTypes
from .documents import DefinitionSet, Document
from .model import RESERVED_NAMES, SYSTEM_SORTABLE, EntityDef
from .problems import Problem, problem

RESERVED_ENTITIES = frozenset({"user", "users", "role", "roles", "definition", "api", "auth", "static", "system"})


class SemanticChecker:
    def __init__(
        self,
        field_types: FieldTypes,
        docs: DefinitionSet,
        broken: set[tuple[str, str]] = frozenset(),
        physical_names=None,
    ):
        self.field_types = field_types
        self.physical_names = physical_names  # entity -> database object names (tables, indexes), from data
        self.docs = docs
        self.broken = broken  # documents that failed phase A: references to them are not reported
        self.entities = {
            d.name: EntityDef.from_doc(d.body, d.version or 0)
            for d in docs.of_kind("entity")
            if ("entity", d.name) not in broken
        }
        self.conditions = ConditionChecker(field_types, self.entities.get)

    def known_entity(self, name) -> bool:
        return name in self.entities or ("entity", name) in self.broken

    def check(self, doc: Document) -> list[Problem]:
        checker = getattr(self, f"check_{doc.kind}", None)
        if checker is None:
            return []
        found: list[tuple] = []
        checker(doc, found)
        return [
            problem(code, path, kind=doc.kind, name=doc.name, file=doc.file, **params) for code, path, params in found
        ]

    def check_all(self) -> list[Problem]:
        out: list[Problem] = []
        for doc in self.docs:
            if (doc.kind, doc.name) not in self.broken:
                out += self.check(doc)
        out += self.table_clashes()
        out += self.physical_clashes()
        out += self.required_ref_cycles()
        return out

    # -- entities -------------------------------------------------------------------------
    def check_entity(self, doc: Document, out: list) -> None:
        entity = self.entities[doc.name]
        if doc.name in RESERVED_ENTITIES:
            out.append(("E-ENTITY-022", "$.name", {"what": doc.name}))
        names, ids, columns = {}, {}, {}
        for i, f in enumerate(entity.fields):
            at = f"$.fields[{i}]"
            if f.name in RESERVED_NAMES:
                out.append(
                    ("E-ENTITY-004", f"{at}.name", {"field": f.name, "reserved": ", ".join(sorted(RESERVED_NAMES))})
                )
            elif f.column in RESERVED_NAMES:
                out.append(
                    ("E-ENTITY-004", f"{at}.column", {"field": f.column, "reserved": ", ".join(sorted(RESERVED_NAMES))})
                )
            for seen, key, code, prop in (
                (names, f.name, "E-ENTITY-001", "name"),
                (ids, f.id, "E-ENTITY-002", "id"),
                (columns, f.column, "E-ENTITY-003", "column"),
            ):
                if key in seen and (prop != "name" or f.active):
                    out.append((code, f"{at}.{prop}", {"field": key, "id": key, "column": key}))
                if prop != "name" or f.active:
                    seen[key] = i
            ftype = self.field_types.get(f.type)
            if ftype is None:
                continue
            for code, rel, params in ftype.definition_problems(f):
                out.append((code, f"{at}.{rel}", params))
            if (f.unique or f.indexed) and (f.type == "json" or ftype.multi or (f.computed and not f.get("stored"))):
                out.append(("E-ENTITY-020", f"{at}.{'unique' if f.unique else 'indexed'}", {"field": f.name}))
            if f.type == "ref" and f.target and not self.known_entity(f.target):
                out.append(("E-ENTITY-009", f"{at}.target", {"target": f.target}))
            if f.has_default and f.default is not None:
                try:
                    ftype.validate(f.default, f)
                except ConversionError as exc:
                    out.append(("E-ENTITY-012", f"{at}.default", {"detail": exc.message}))
            if f.computed:
                out += self.conditions.check_computed(f, entity, f"{at}.computed")
            if f.encrypted and (not ftype.encryptable or f.computed):
                out.append(("E-ENTITY-030", f"{at}.pii", {"field": f.name, "type": f.type}))
        self._entity_lists(doc.body, entity, out)
        self._entity_relations(doc.body, entity, out)
        self._entity_constraints(doc.body, entity, out)
        self._entity_scope(doc.body, entity, out)
        for name, cond in doc.body.get("conditions", {}).items():
            out += self.conditions.check(cond, entity, f"$.conditions.{name}", "named")

    def _field_ok(self, entity: EntityDef, name: str, *, searchable=False, sortable=False, scalar=False) -> bool:
        if sortable and name in SYSTEM_SORTABLE:
            return True
        f = entity.field(name)
        if f is None:
            return False
        if (scalar or searchable) and f.computed and not f.get("stored"):
            return False  # no column behind it (sorting uses its expression)
        ftype = self.field_types.get(f.type)
        if ftype is None:
            return True
        if scalar and f.type == "json":
            return False
        if searchable and not ftype.searchable:
            return False
        if sortable and (not ftype.sortable or f.encrypted):
            return False  # an encrypted value has no order the database can see
        return not (scalar and ftype.multi)

    def _entity_lists(self, body: dict, entity: EntityDef, out: list) -> None:
        title = body.get("title_field")
        if title and not self._field_ok(entity, title):
            out.append(("E-ENTITY-005", "$.title_field", {"field": title}))
        for i, name in enumerate(body.get("search_fields", [])):
            if not self._field_ok(entity, name, searchable=True):
                out.append(("E-ENTITY-006", f"$.search_fields[{i}]", {"field": name}))
        spec = body.get("list", {})
        for i, name in enumerate(spec.get("columns", [])):
            if not (self._field_ok(entity, name) or name in SYSTEM_SORTABLE):
                out.append(("E-ENTITY-007", f"$.list.columns[{i}]", {"field": name}))
        for i, name in enumerate(spec.get("filters", [])):
            f = entity.field(name)
            if f is None or f.type == "json":
                out.append(("E-ENTITY-016", f"$.list.filters[{i}]", {"field": name}))
        for part in (spec.get("sort") or "").split(","):
            name = part.lstrip("-")
            if name and not self._field_ok(entity, name, sortable=True):
                out.append(("E-ENTITY-008", "$.list.sort", {"field": name}))
        board = spec.get("board") or {}
        if board.get("field") and getattr(entity.field(board["field"]), "type", None) != "enum":
            out.append(("E-ENTITY-031", "$.list.board.field", {"field": board["field"]}))
        for i, name in enumerate(board.get("card", [])):
            if not (self._field_ok(entity, name) or name in SYSTEM_SORTABLE):
                out.append(("E-ENTITY-016", f"$.list.board.card[{i}]", {"field": name}))

    def _entity_relations(self, body: dict, entity: EntityDef, out: list) -> None:
        names = {f.name for f in entity.active_fields}
        for i, rel in enumerate(body.get("relations", [])):
            at = f"$.relations[{i}]"
            if rel["name"] in names:
                out.append(("E-ENTITY-017", f"{at}.name", {"what": rel["name"]}))
            names.add(rel["name"])
            target = self.entities.get(rel["target"])
            if target is None:
                if not self.known_entity(rel["target"]):
                    out.append(("E-ENTITY-010", f"{at}.target", {"target": rel["target"]}))
                continue
            if rel.get("sort") and not self._field_ok(target, rel["sort"].lstrip("-"), sortable=True):
                out.append(("E-ENTITY-008", f"{at}.sort", {"field": rel["sort"].lstrip("-")}))
            if rel["kind"] == "has_many":
                via = target.field(rel["via"])
                if via is None or via.type != "ref" or via.target != entity.name:
                    out.append(
                        (
                            "E-ENTITY-011",
                            f"{at}.via",
                            {
                                "relation": rel["name"],
                                "via": rel["via"],
                                "target": rel["target"],
                                "entity": entity.name,
                            },
                        )
                    )
            elif rel["kind"] == "many_to_many" and not self.known_entity(rel.get("through")):
                out.append(("E-ENTITY-010", f"{at}.through", {"target": rel.get("through")}))

    def _entity_constraints(self, body: dict, entity: EntityDef, out: list) -> None:
        for i, c in enumerate(body.get("constraints", [])):
            at = f"$.constraints[{i}]"
            if c["type"] == "unique":
                for j, name in enumerate(c["fields"]):
                    if entity.field(name) is None:
                        out.append(("E-ENTITY-016", f"{at}.fields[{j}]", {"field": name}))
                    elif not self._field_ok(entity, name, scalar=True):
                        out.append(("E-ENTITY-020", f"{at}.fields[{j}]", {"field": name}))
                if "where" in c:
                    out += self.conditions.check(c["where"], entity, f"{at}.where", "check")
            else:
                for key in ("when", "assert"):
                    if key in c:
                        out += self.conditions.check(c[key], entity, f"{at}.{key}", "check")
                if c.get("field") and entity.field(c["field"]) is None:
                    out.append(("E-ENTITY-016", f"{at}.field", {"field": c["field"]}))
        for i, index in enumerate(body.get("indexes", [])):
            for j, name in enumerate(index["fields"]):
                bare = name.lstrip("-")
                if not (self._field_ok(entity, bare, scalar=True) or bare in SYSTEM_SORTABLE):
                    code = "E-ENTITY-016" if entity.field(bare) is None else "E-ENTITY-020"
                    out.append((code, f"$.indexes[{i}].fields[{j}]", {"field": bare}))

    def _entity_scope(self, body: dict, entity: EntityDef, out: list) -> None:
        """``options.scope``, ``options.staff`` and ``options.tree`` name fields of the right kind."""
        options = body.get("options", {})

        def ref(owner: EntityDef | None, name: str, at: str, target: str | None = None) -> None:
            f = owner.field(name) if owner is not None else None
            if f is None:
                out.append(("E-ENTITY-016", at, {"field": name}))
            elif f.type != "ref":
                out.append(("E-ENTITY-026", at, {"field": name}))
            elif target and f.target != target:
                out.append(("E-ENTITY-029", at, {"field": name, "target": target}))

        def names(value) -> list[str]:
            return [value] if isinstance(value, str) else list(value or [])

        scope = options.get("scope", {})
        for key in ("owner", "org", "via"):
            for i, name in enumerate(names(scope.get(key))):
                ref(entity, name, f"$.options.scope.{key}" + (f"[{i}]" if isinstance(scope[key], list) else ""))
        shares = scope.get("shares")
        if shares:
            at = "$.options.scope.shares"
            link = self.entities.get(shares["entity"])
            if link is None:
                if not self.known_entity(shares["entity"]):
                    out.append(("E-ENTITY-010", f"{at}.entity", {"target": shares["entity"]}))
            else:
                ref(link, shares["record"], f"{at}.record", entity.name)
                ref(link, shares["employee"], f"{at}.employee")
                for key in ("from", "to"):
                    if key in shares and (link.field(shares[key]) is None or link.field(shares[key]).type != "date"):
                        out.append(("E-ENTITY-027", f"{at}.{key}", {"field": shares[key]}))
                if "where" in shares:
                    out += self.conditions.check(shares["where"], link, f"{at}.where", "permission")
        staff = options.get("staff")
        if staff:
            if entity.field(staff["login"]) is None or entity.field(staff["login"]).type != "string":
                out.append(("E-ENTITY-028", "$.options.staff.login", {"field": staff["login"]}))
            ref(entity, staff["org"], "$.options.staff.org")
        tree = options.get("tree")
        if tree:
            ref(entity, tree["parent"], "$.options.tree.parent", entity.name)
            if tree.get("kind") and entity.field(tree["kind"]) is None:
                out.append(("E-ENTITY-016", "$.options.tree.kind", {"field": tree["kind"]}))

    def _entity_problem(self, entity: EntityDef, code: str, path: str, **params) -> Problem:
        doc = self.docs.get("entity", entity.name)
        return problem(code, path, kind="entity", name=entity.name, file=doc.file if doc else None, **params)

    def table_clashes(self) -> list[Problem]:
        out, seen = [], {}
        for entity in self.entities.values():
            if len(entity.table) > 56:
                out.append(self._entity_problem(entity, "E-ENTITY-024", "$.name", table=entity.table))
            if entity.table in seen:
                out.append(
                    self._entity_problem(
                        entity, "E-ENTITY-018", "$.table", table=entity.table, other=seen[entity.table]
                    )
                )
            seen[entity.table] = entity.name
        return out

    def physical_clashes(self) -> list[Problem]:
        """Link tables and indexes are named after tables and columns: two entities must not collide."""
        if self.physical_names is None:
            return []
        owner: dict[str, str] = {}
        out = []
        for entity in sorted(self.entities.values(), key=lambda e: e.name):
            try:
                names = self.physical_names(entity, self.field_types)
            except Exception:  # phase B never fails on an odd document; other checks report it
                continue
            for physical in names:
                if physical in owner and owner[physical] != entity.name:
                    out.append(
                        self._entity_problem(entity, "E-ENTITY-025", "$", physical=physical, other=owner[physical])
                    )
                owner.setdefault(physical, entity.name)
        return out

    def required_ref_cycles(self) -> list[Problem]:
        graph = {
            name: [f.target for f in e.active_fields if f.type == "ref" and f.required and f.target in self.entities]
            for name, e in self.entities.items()
        }
        out, reported = [], set()
        for start in sorted(graph):
            stack = [(start, [start])]
            while stack:
                node, trail = stack.pop()
                for nxt in graph.get(node, ()):
                    if nxt == start:
                        cycle = frozenset(trail)
                        if cycle not in reported:
                            reported.add(cycle)
                            out.append(
                                self._entity_problem(
                                    self.entities[start], "E-ENTITY-019", "$.fields", cycle=" → ".join([*trail, start])
                                )
                            )
                    elif nxt not in trail:
                        stack.append((nxt, [*trail, nxt]))
        return out

    # -- forms ----------------------------------------------------------------------------
    def check_form(self, doc: Document, out: list) -> None:
        body = doc.body
        entity = self.entities.get(body["entity"])
        if entity is None:
            if not self.known_entity(body["entity"]):
                out.append(("E-FORM-001", "$.entity", {"entity": body["entity"]}))
            return
        state = {"fields": {}, "ids": {}}
        self._form_node(body["layout"], "$.layout", entity, out, state, depth=0, parent=None)

    def _form_node(self, node: dict, path: str, entity: EntityDef, out: list, state: dict, depth: int, parent) -> None:
        kind = node.get("type")
        if node.get("id"):
            if node["id"] in state["ids"]:
                out.append(("E-FORM-006", f"{path}.id", {"id": node["id"]}))
            state["ids"][node["id"]] = path
        if (kind == "tab" and parent != "tabs") or (kind == "tabs" and depth != 0):
            out.append(("E-FORM-007", f"{path}.type", {}))
        for i, rule in enumerate(node.get("rules", [])):
            out += self.conditions.check(rule["when"], entity, f"{path}.rules[{i}].when", "form")
        if kind == "field":
            self._form_field(node, path, entity, out, state)
        elif kind == "related_list":
            rel = entity.relation(node["relation"])
            target = self.entities.get(rel.target) if rel and rel.kind == "has_many" else None
            if target is None:
                out.append(("E-FORM-005", f"{path}.relation", {"relation": node["relation"], "entity": entity.name}))
                return
            for i, name in enumerate(node.get("columns", [])):
                if target.field(name) is None and name not in SYSTEM_SORTABLE:
                    out.append(("E-FORM-002", f"{path}.columns[{i}]", {"field": name, "entity": target.name}))
            if node.get("sort") and not self._field_ok(target, node["sort"].lstrip("-"), sortable=True):
                out.append(("E-ENTITY-008", f"{path}.sort", {"field": node["sort"].lstrip("-")}))
            if "filter" in node:
                out += self.conditions.check(node["filter"], target, f"{path}.filter", "lookup", outer=entity)
        for i, child in enumerate(node.get("items", [])):
            self._form_node(child, f"{path}.items[{i}]", entity, out, state, depth + 1, kind)

    def _form_field(self, node: dict, path: str, entity: EntityDef, out: list, state: dict) -> None:
        name = node["field"]
        f = entity.field(name) or next((x for x in entity.fields if x.name == name), None)
        if f is None:
            out.append(("E-FORM-002", f"{path}.field", {"field": name, "entity": entity.name}))
            return
        if not f.active:
            out.append(("W-FORM-001", f"{path}.field", {"field": name}))
        if f.id in state["fields"]:
            out.append(("E-FORM-004", f"{path}.field", {"field": name}))
        state["fields"][f.id] = path
        ftype = self.field_types.get(f.type)
        widget = node.get("widget")
        if ftype and widget and widget not in ftype.widgets:
            out.append(
                (
                    "E-FORM-003",
                    f"{path}.widget",
                    {"widget": widget, "type": f.type, "allowed": ", ".join(ftype.widgets)},
                )
            )
        lookup = node.get("lookup")
        if lookup and f.type == "ref":
            target = self.entities.get(f.target)
            if target is not None:
                if "filter" in lookup:
                    out += self.conditions.check(
                        lookup["filter"], target, f"{path}.lookup.filter", "lookup", outer=entity
                    )
                for i, col in enumerate(lookup.get("display", [])):
                    if target.field(col) is None:
                        out.append(("E-FORM-002", f"{path}.lookup.display[{i}]", {"field": col, "entity": target.name}))

    # -- roles, workflows, alerts, dashboards ---------------------------------------------
    def check_role(self, doc: Document, out: list) -> None:
        home = doc.body.get("home")
        if home:
            board = self.docs.get("dashboard", home["dashboard"])
            if board is None and ("dashboard", home["dashboard"]) not in self.broken:
                out.append(("W-ROLE-002", "$.home.dashboard", {"ref": home["dashboard"]}))
            ids = {w.get("id") for w in board.body.get("widgets", [])} if board is not None else set()
            for i, wid in enumerate(home["widgets"]):
                if board is not None and wid not in ids:
                    out.append(("W-ROLE-002", f"$.home.widgets[{i}]", {"ref": f"{home['dashboard']}.{wid}"}))
        for entity_name, perm in doc.body.get("permissions", {}).items():
            if entity_name == "*":
                continue
            entity = self.entities.get(entity_name)
            at = f"$.permissions.{entity_name}"
            if entity is None:
                if not self.known_entity(entity_name):
                    out.append(("E-ROLE-001", at, {"entity": entity_name}))
                continue
            for field_name in perm.get("fields", {}):
                if field_name == "*":
                    continue
                f = entity.field(field_name) or next((x for x in entity.fields if x.name == field_name), None)
                if f is None:
                    out.append(
                        ("E-ROLE-002", f"{at}.fields.{field_name}", {"field": field_name, "entity": entity_name})
                    )
                elif not f.active:
                    out.append(("W-ROLE-001", f"{at}.fields.{field_name}", {"field": field_name}))
            if "filter" in perm:
                out += self.conditions.check(perm["filter"], entity, f"{at}.filter", "permission")

    def check_workflow(self, doc: Document, out: list) -> None:
        body = doc.body
        entity = self.entities.get(body["entity"])
        if entity is None:
            if not self.known_entity(body["entity"]):
                out.append(("E-REF-001", "$.entity", {"entity": body["entity"]}))
            return
        if entity.field(body["state_field"]) is None:
            out.append(("E-REF-002", "$.state_field", {"field": body["state_field"], "entity": entity.name}))
        states = body["states"]
        if body["initial"] not in states:
            out.append(("E-REF-003", "$.initial", {"state": body["initial"]}))
        for i, t in enumerate(body["transitions"]):
            at = f"$.transitions[{i}]"
            for j, s in enumerate(t["from"]):
                if s not in states:
                    out.append(("E-REF-003", f"{at}.from[{j}]", {"state": s}))
            if t["to"] not in states and t["to"] != "$same":
                out.append(("E-REF-003", f"{at}.to", {"state": t["to"]}))
            if "guard" in t:
                out += self.conditions.check(t["guard"], entity, f"{at}.guard", "guard")
            for j, name in enumerate(t.get("input", [])):
                if entity.field(name) is None:
                    out.append(("E-REF-002", f"{at}.input[{j}]", {"field": name, "entity": entity.name}))
        from .workflow_checks import check_workflow_parts

        check_workflow_parts(self, body, entity, out)

    def check_alert(self, doc: Document, out: list) -> None:
        from .alert_checks import check_alert as check_alert_actions

        body = doc.body
        entity = self.entities.get(body["entity"])
        if entity is None:
            if not self.known_entity(body["entity"]):
                out.append(("E-REF-001", "$.entity", {"entity": body["entity"]}))
            return
        context = "event" if body.get("trigger") else "alert"
        source = document_source(body, dict.fromkeys(body.get("params", {})))
        for key in ("scope", "condition"):
            if key in body:
                out += self.conditions.check(body[key], entity, f"$.{key}", context, source=source)
        for name, operand in body.get("metrics", {}).items():
            out += self.conditions.check_operand(operand, entity, f"$.metrics.{name}", context, source=source)
        check_alert_actions(self, body, entity, out)

    def check_dashboard(self, doc: Document, out: list) -> None:
        body = doc.body
        datasets = body.get("datasets", {})
        for name, ds in datasets.items():
            if ds["entity"] not in self.entities and not self.known_entity(ds["entity"]):
                out.append(("E-REF-001", f"$.datasets.{name}.entity", {"entity": ds["entity"]}))
        for i, w in enumerate(body.get("widgets", [])):
            if "source" not in w and w["dataset"] not in datasets:  # (a plugin's source has no dataset)
                out.append(("E-REF-004", f"$.widgets[{i}].dataset", {"dataset": w["dataset"]}))
        from ..dashboards.plan import prepare as prepare_dashboard

        def lookup(name):
            return self.entities.get(name) if isinstance(name, str) else None

        try:
            plan = prepare_dashboard(self.field_types, lookup, body, collect=True)
        except Exception as exc:  # noqa: BLE001 - odd input must never crash the checker
            out.append(("E-COND-013", "$", {"detail": type(exc).__name__}))
            return
        out += plan.problems
