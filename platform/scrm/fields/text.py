"""Text-like field types: string, text, email, url, phone, id_number."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from urllib.parse import urlsplit

import sqlalchemy as sa

from ..i18n import _
from .base import TEXT_OPS, FieldType

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@lru_cache(maxsize=512)
def compiled(pattern: str) -> re.Pattern:
    return re.compile(pattern)


class StringType(FieldType):
    name = "string"
    encryptable = True
    searchable = True
    operators = TEXT_OPS
    widgets = ("text", "textarea", "masked_input", "display", "select")
    default_length = 255
    options_schema = {
        "properties": {
            "max_length": {"type": "integer", "minimum": 1, "maximum": 10000},
            "min_length": {"type": "integer", "minimum": 0, "maximum": 10000},
            "pattern": {"type": "string", "minLength": 1, "maxLength": 300},
            "pattern_message": {"$ref": "common.json#/$defs/i18nText"},
        }
    }
    validation_keys = ("max_length", "min_length", "pattern")
    storage_keys = ("max_length",)

    def max_length(self, f) -> int:
        return f.get("max_length", self.default_length)

    def column_type(self, f):
        return sa.String(self.max_length(f))

    def convert(self, value, f):
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise self.fail(_("Expected text, got {value}.").format(value=self.show(value)))
        text = str(value).strip()
        if _CONTROL.search(text):
            raise self.fail(_("The text contains control characters."))
        return self.normalise(text)

    def normalise(self, text: str) -> str:
        return text

    def check(self, value, f):
        limit = self.max_length(f)
        if limit and len(value) > limit:
            raise self.fail(_("At most {limit} characters (this has {n}).").format(limit=limit, n=len(value)))
        least = f.get("min_length")
        if least and len(value) < least:
            raise self.fail(_("At least {limit} characters (this has {n}).").format(limit=least, n=len(value)))
        pattern = f.get("pattern")
        if pattern and not compiled(pattern).fullmatch(value):
            from ..i18n import text

            custom = f.get("pattern_message")
            raise self.fail(
                text(custom)
                if custom
                else _("{value} does not have the expected format.").format(value=self.show(value))
            )

    def json_schema(self, f):
        out = {"type": "string", "maxLength": self.max_length(f)}
        if f.get("pattern"):
            out["pattern"] = f.get("pattern")
        return out

    def definition_problems(self, f):
        pattern = f.get("pattern")
        if pattern:
            try:
                re.compile(pattern)
            except re.error as exc:
                return [("E-ENTITY-014", "pattern", {"detail": str(exc)})]
        return []


class TextType(StringType):
    name = "text"
    sortable = False
    widgets = ("textarea", "text", "display")
    default_length = 100_000
    options_schema = {"properties": {"max_length": {"type": "integer", "minimum": 1, "maximum": 1_000_000}}}
    validation_keys = ("max_length",)
    storage_keys = ()

    def column_type(self, f):
        return sa.Text()

    def convert(self, value, f):
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise self.fail(_("Expected text, got {value}.").format(value=self.show(value)))
        text = str(value).replace("\r\n", "\n").strip()
        if _CONTROL.search(text):
            raise self.fail(_("The text contains control characters."))
        return text


class EmailType(StringType):
    name = "email"
    widgets = ("email", "text", "masked_input", "display")
    default_length = 254
    options_schema = {}
    validation_keys = ()
    storage_keys = ()
    _shape = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s.]{2,}$")

    def normalise(self, text):
        if not self._shape.match(text):
            raise self.fail(_("{value} is not an e-mail address.").format(value=self.show(text)))
        local, domain = text.rsplit("@", 1)
        return f"{local}@{domain.lower()}"

    def json_schema(self, f):
        return {"type": "string", "format": "email", "maxLength": 254}


class UrlType(StringType):
    name = "url"
    widgets = ("url", "text", "display")
    default_length = 2000
    options_schema = {}
    validation_keys = ()
    storage_keys = ()

    def normalise(self, text):
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.netloc or " " in text:
            raise self.fail(
                _("{value} is not a web address starting with http:// or https://.").format(value=self.show(text))
            )
        return text

    def json_schema(self, f):
        return {"type": "string", "format": "uri", "maxLength": 2000}


class PhoneType(StringType):
    """Phone numbers; ``region: CN`` (default) knows mainland mobile and landline shapes."""

    name = "phone"
    widgets = ("phone", "text", "masked_input", "display")
    default_length = 32
    options_schema = {"properties": {"region": {"enum": ["CN", "any"]}}}
    validation_keys = ("region",)
    storage_keys = ()
    _strip = re.compile(r"[\s\-()]")
    _mobile = re.compile(r"^1[3-9]\d{9}$", re.ASCII)
    _landline = re.compile(r"^0\d{2,3}\d{7,8}$", re.ASCII)
    _intl = re.compile(r"^\+?\d{6,15}$", re.ASCII)

    def check(self, value, f):
        pass

    def convert(self, value, f):
        text = unicodedata.normalize("NFKC", super().convert(value, f))  # full-width digits typed in Chinese IMEs
        digits = self._strip.sub("", text)
        ext = ""
        if "#" in digits or "ext" in digits.lower():
            digits, _sep, ext = re.split(r"(#|ext\.?)", digits, maxsplit=1, flags=re.I)
            if not (ext.isascii() and ext.isdigit()) or len(ext) > 6:
                raise self.fail(_("{value} is not a phone number.").format(value=self.show(text)))
        if f.get("region", "CN") == "CN":
            local = re.sub(r"^(\+86|0086)", "", digits)
            if self._mobile.match(local) and not ext:
                return local
            if self._landline.match(local):
                area = 3 if local[1] in "12" else 4
                return f"{local[:area]}-{local[area:]}" + (f"#{ext}" if ext else "")
            if digits.startswith("+") and not digits.startswith("+86") and self._intl.match(digits):
                return digits
            raise self.fail(
                _(
                    "{value} is not a mainland mobile (11 digits starting with 1) or landline number with area code."
                ).format(value=self.show(text))
            )
        if not self._intl.match(digits):
            raise self.fail(_("{value} is not a phone number.").format(value=self.show(text)))
        return digits + (f"#{ext}" if ext else "")


class IdNumberType(StringType):
    """Identity document numbers; 18-character mainland numbers must carry a valid check digit."""

    name = "id_number"
    widgets = ("masked_input", "text", "display")
    default_length = 64
    options_schema = {}
    validation_keys = ()
    storage_keys = ()
    _shape = re.compile(r"^[A-Z0-9()\-]{5,40}$")
    _cn = re.compile(r"^\d{17}[\dX]$", re.ASCII)
    _weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    _checks = "10X98765432"

    def normalise(self, text):
        text = unicodedata.normalize("NFKC", text).upper().replace(" ", "")
        if not self._shape.match(text):
            raise self.fail(_("{value} is not an identity document number.").format(value=self.show(text)))
        if self._cn.match(text):
            total = sum(int(d) * w for d, w in zip(text[:17], self._weights, strict=True))
            if self._checks[total % 11] != text[17]:
                raise self.fail(_("The check digit of {value} is wrong.").format(value=self.show(text)))
        return text
