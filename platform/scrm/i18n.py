"""Locale choice, UI translations (Flask-Babel) and i18n maps from definitions.

Interface texts are written in English in the code and translated through the gettext
catalogue in ``translations/``; the default locale is zh_CN (``SCRM_LOCALE``). Labels in
definitions are maps such as ``{"zh-CN": "客户", "en": "Customer"}`` and are resolved with
:func:`text`.
"""

from __future__ import annotations

from contextvars import ContextVar
from pathlib import Path

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, current_app, g, has_request_context, request, session
from flask_babel import Babel, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

__all__ = ["N_", "_", "_l", "init_app", "text", "current_locale", "SUPPORTED"]

SUPPORTED = ("zh_CN", "en")


def N_(message: str) -> str:
    """Mark a message for the catalogue; it is translated later, where it is shown."""
    return message


LABELS = {"zh_CN": "中文", "en": "English"}
TRANSLATIONS = Path(__file__).parent / "translations"


def init_app(app: Flask) -> None:
    compile_catalogues(TRANSLATIONS)
    app.config.setdefault("BABEL_DEFAULT_LOCALE", app.config["SCRM_LOCALE"])
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "UTC")
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS)
    Babel(app, locale_selector=select_locale)
    app.before_request(_remember_locale)
    app.teardown_request(_forget_locale)

    @app.context_processor
    def inject_i18n():
        return {"t": text, "locale": current_locale(), "locales": LABELS}


_PARSED = {code: Locale.parse(code) for code in SUPPORTED}  # Babel re-parses names on every call otherwise


def select_locale() -> Locale:
    """Explicit choice (query, session) first; the API also honours Accept-Language."""
    return _PARSED[_choose_locale()]


def _choose_locale() -> str:
    default = current_app.config["SCRM_LOCALE"]
    if not has_request_context():
        return default
    chosen = request.args.get("lang") or session.get("lang")
    if chosen in SUPPORTED:
        return chosen
    if request.path.startswith("/api/") and request.accept_languages:
        best = request.accept_languages.best_match(["zh-CN", "zh", "en"])
        if best:
            return "en" if best == "en" else "zh_CN"
    return default


_request_locale: ContextVar[str | None] = ContextVar("scrm_locale", default=None)


def current_locale() -> str:
    """``zh_CN`` or ``en``; decided once per request (lists resolve hundreds of labels)."""
    cached = _request_locale.get()
    return cached if cached is not None else _babel_locale()


def _remember_locale() -> None:
    _request_locale.set(_babel_locale())


def _forget_locale(_exc=None) -> None:
    _request_locale.set(None)


def _babel_locale() -> str:
    loc = get_locale()
    if loc is None:
        return current_app.config.get("SCRM_LOCALE", "zh_CN")
    return "zh_CN" if loc.language == "zh" else "en"


def _candidates(locale: str) -> tuple[str, ...]:
    if locale.startswith("zh"):
        return ("zh-CN", "zh_CN", "zh", "en")
    return ("en", "zh-CN", "zh_CN", "zh")


def text(value, locale: str | None = None, default: str = "") -> str:
    """Resolve an i18n map (or plain string) for the current locale, falling back sensibly."""
    if value is None:
        return default
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        loc = locale or (current_locale() if (has_request_context() or g) else "zh_CN")
        for key in _candidates(loc):
            if value.get(key):
                return value[key]
        for v in value.values():
            if v:
                return v
    return default


def compile_catalogues(root: Path) -> None:
    """Compile each ``messages.po`` to ``messages.mo`` when the .mo is missing or older."""
    for po in root.glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as f:
            catalog = read_po(f)
        tmp = mo.with_suffix(".mo.tmp")
        with tmp.open("wb") as f:
            write_mo(f, catalog)
        tmp.replace(mo)
