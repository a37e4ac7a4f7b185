"""Configuration from SCRM_* environment variables: a bad value is refused with a message that
names the variable; PostgreSQL connections run without JIT unless asked."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from scrm.config import load_config
from scrm.errors import BadRequest


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("SCRM_PG_JIT", "maybe", "SCRM_PG_JIT='maybe' must be on or off"),
        ("SCRM_LOCALE", "fr", "SCRM_LOCALE='fr' is not supported"),
        ("SCRM_TIMEZONE", "Mars/Olympus", "SCRM_TIMEZONE='Mars/Olympus' is not a known time zone"),
        ("SCRM_DASHBOARD_CACHE_SECONDS", "-1", "must be a whole number from 0 to 3600"),
    ],
)
def test_a_bad_value_names_its_variable(key, value, message):
    with pytest.raises(BadRequest) as caught:
        load_config({key: value})
    assert message in str(caught.value.message)


@pytest.mark.parametrize("raw, on", [(None, False), ("off", False), ("ON", True)])
def test_jit_is_off_unless_asked(raw, on):
    assert load_config({} if raw is None else {"SCRM_PG_JIT": raw})["SCRM_PG_JIT"] is on


def test_the_application_connects_to_postgresql_without_jit(app, backend):
    from scrm.db import db

    if backend != "postgresql":
        pytest.skip("a PostgreSQL setting")
    with app.app_context():
        assert db.session.execute(sa.text("SHOW jit")).scalar() == "off"
