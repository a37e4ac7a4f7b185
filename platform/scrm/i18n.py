"""Locale choice, UI translations (Flask-Babel) and i18n maps from definitions.

Interface texts are written in English in the code and translated through the gettext
catalogue in ``translations/``; the default locale is zh_CN (``SCRM_LOCALE``). Labels in
definitions are maps such as ``{"zh-CN": "客户", "en": "Customer"}`` and are resolved with
:func:`text`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, current_app, g, has_request_context, request, session
from flask_babel import Babel, get_locale, get_translations
from flask_babel import force_locale as _babel_force_locale
from flask_babel import lazy_gettext as _l
from jinja2 import pass_eval_context
from markupsafe import Markup

__all__ = ["N_", "_", "_l", "init_app", "text", "current_locale", "force_locale", "SUPPORTED"]

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
    # the templates' _() and Python's _(): the request's catalogue, looked up once per request
    # (Flask-Babel finds the locale and its catalogue again on every call: a list page makes
    # sixty such calls, a third of its rendering time)
    app.jinja_env.install_gettext_callables(
        gettext=_,
        ngettext=lambda s, p, n: _translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: _translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: _translations().unpgettext(c, s, p, n),
    )
    # and called directly: Jinja's newstyle gettext goes through three context calls per text
    app.jinja_env.globals["_"] = app.jinja_env.globals["gettext"] = _template_gettext
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
_request_translations: ContextVar = ContextVar("scrm_translations", default=None)


def _translations():
    cached = _request_translations.get()
    return cached if cached is not None else get_translations()


def _(string: str, **variables) -> str:
    """The interface text in the current locale (Flask-Babel's ``gettext``, with the request's
    catalogue remembered)."""
    translated = _translations().ugettext(string)
    return translated % variables if variables else translated


@pass_eval_context
def _template_gettext(eval_ctx, string: str, **variables):
    """Jinja's newstyle ``gettext`` in one call: the translation is markup in an autoescaped
    template, and the variables are escaped into it."""
    translated = _translations().ugettext(string)
    if eval_ctx.autoescape:
        translated = Markup(translated)
    if variables or "%" in translated:  # as Jinja's: a literal % is written %% in templates
        return translated % variables
    return translated


@contextmanager
def force_locale(locale: str) -> Iterator[None]:
    """Texts in ``locale`` inside the block (a job run for the user who queued it)."""
    remembered = _request_locale.set(None), _request_translations.set(None)
    try:
        with _babel_force_locale(locale):
            yield
    finally:
        _request_locale.reset(remembered[0])
        _request_translations.reset(remembered[1])


def current_locale() -> str:
    """``zh_CN`` or ``en``; decided once per request (lists resolve hundreds of labels)."""
    cached = _request_locale.get()
    return cached if cached is not None else _babel_locale()


def _remember_locale() -> None:
    _request_locale.set(_babel_locale())
    _request_translations.set(get_translations())


def _forget_locale(_exc=None) -> None:
    _request_locale.set(None)
    _request_translations.set(None)


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
