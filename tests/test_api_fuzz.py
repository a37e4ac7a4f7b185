"""Schemathesis against /api/openapi.json, as the administrator and as an account manager, on the demo
brokerage: for every operation (213 with the shipped CRM) a bounded number of generated requests
(``SCRM_FUZZ_EXAMPLES``, default 10), and for each response: not a 5xx, a documented status
code and content type, a body that matches its schema — errors included, whose schema is the
one error shape of DESIGN.md §10. Marked ``fuzz``: ``make fuzz`` runs it (``.ci/run`` does)."""

from __future__ import annotations

import os
from collections import Counter

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import given as hypothesis_given

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.fuzz
EXAMPLES = int(os.environ.get("SCRM_FUZZ_EXAMPLES", "10"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def first_failure(exc: BaseException) -> str:
    """The failure's title and its reproduction from schemathesis' report."""
    lines = str(exc).splitlines()
    title = next((line for line in lines if line.startswith("- ")), lines[0] if lines else type(exc).__name__)
    curl = next((line.strip() for line in lines if line.strip().startswith("curl ")), "")
    return f"{title.strip()} | {curl}"


@pytest.mark.parametrize("login", ["admin", "am_demo"])  # every operation; an account manager's scope
def test_every_operation_answers_within_its_schema(demo, login):
    from scrm.db import db
    from scrm.security.users import find_user, issue_token

    app, _summary = demo
    with app.app_context():
        token = issue_token(find_user(login), "fuzz")
        db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app, headers=headers)
    statuses: Counter = Counter()
    failures: dict[str, str] = {}
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        @hypothesis_given(operation.as_strategy())
        def attack(case):
            response = case.call_and_validate(headers=headers, checks=CHECKS)
            statuses[response.status_code] += 1

        try:
            attack()
        except Exception as exc:  # schemathesis' failure report: kept per operation, all shown at the end
            failures[operation.label] = first_failure(exc)
    assert operations > (150 if login == "admin" else 40)
    assert sum(statuses.values()) >= operations * min(EXAMPLES, 3)
    assert not failures, "\n".join(f"{label}: {why}" for label, why in sorted(failures.items()))
    assert not [s for s in statuses if s >= 500], statuses
