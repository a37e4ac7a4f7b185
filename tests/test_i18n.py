"""Every interface text has a Chinese translation with the same placeholders; labels resolve
by locale with sensible fallbacks."""

import re
import string
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from scrm.i18n import text

ROOT = Path(__file__).parents[1]
PO = ROOT / "platform" / "scrm" / "translations" / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"


def placeholders(message: str) -> set[str]:
    brace = set()
    try:
        brace = {
            f"{{{name}{'!' + conv if conv else ''}}}"
            for _lit, name, _spec, conv in string.Formatter().parse(message)
            if name is not None
        }
    except ValueError:
        pass
    return brace | set(re.findall(r"%\(\w+\)s", message))


def source_messages() -> set[str]:
    """Messages extracted from the code and templates now (not from a possibly stale .pot)."""
    keywords = {**DEFAULT_KEYWORDS, "_l": None, "N_": None}
    found = set()
    for folder, method_map in (
        (ROOT / "platform", [("**.py", "python")]),
        (ROOT / "templates", [("**.html", "jinja2.ext:babel_extract")]),
    ):
        for _file, _line, message, _comments, _ctx in extract_from_dir(
            folder, method_map, keywords=keywords, options_map={"**.html": {}}
        ):
            found.add(message if isinstance(message, str) else message[0])
    return found


def test_catalogue_covers_every_message():
    with PO.open("rb") as f:
        catalogue = read_po(f)
    messages = source_messages()
    assert len(messages) > 200
    missing = sorted(m for m in messages if m not in catalogue or not catalogue[m].string)
    assert missing == [], "run: python scripts/i18n.py update, then translate"


def test_translations_keep_placeholders():
    with PO.open("rb") as f:
        catalogue = read_po(f)
    wrong = [m.id for m in catalogue if m.id and m.string and placeholders(m.id) != placeholders(m.string)]
    assert wrong == []


@pytest.mark.parametrize(
    "value, locale, expected",
    [
        ({"zh-CN": "客户", "en": "Customer"}, "zh_CN", "客户"),
        ({"zh-CN": "客户", "en": "Customer"}, "en", "Customer"),
        ({"zh-CN": "客户"}, "en", "客户"),
        ({"en": "Customer"}, "zh_CN", "Customer"),
        ({"zh": "客户"}, "zh_CN", "客户"),
        ("plain", "en", "plain"),
        (None, "en", ""),
    ],
)
def test_i18n_maps_resolve(value, locale, expected):
    assert text(value, locale) == expected
