"""Masking personal information for display and export, in the exact formats of the domain
reference (§2.3, after JR/T 0171 Annex A).

Each rule takes the stored text and returns what a user without access sees. Rules never
return more than they must: when a value does not look like what the rule expects (a short ID
number, a phone number without digits), the whole value is starred rather than guessed at.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

STAR = "*"
FULL = "******"
COMPOUND_SURNAMES = frozenset(
    "欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 轩辕 令狐 端木 独孤 南宫 西门 百里 呼延 万俟 闻人 澹台 "
    "公冶 宗政 濮阳 太史 申屠 钟离 赫连 第五".split()
)


def _stars(n: int) -> str:
    return STAR * max(n, 1)


def mask_name(value: str) -> str:
    """张三 → 张*; 张小明 → 张*明; 欧阳小明 → 欧阳**明: the surname (a compound one whole), the last
    character when the name has three or more, and len − 2 stars (at least one) between, as in
    the reference's examples. Latin names keep their first letter."""
    name = value.strip()
    if not name:
        return name
    if name.isascii():
        return name[0] + _stars(len(name) - 1) if len(name) > 1 else STAR
    keep = 2 if name[:2] in COMPOUND_SURNAMES and len(name) > 2 else 1
    last = name[-1] if len(name) >= 3 else ""
    return name[:keep] + _stars(len(name) - 2) + last


def mask_id_number(value: str) -> str:
    """110101199003071234 → 110***********1234: first 3 and last 4; the birth date never shows."""
    v = value.strip()
    if len(v) < 10:
        return FULL
    return v[:3] + _stars(len(v) - 7) + v[-4:]


def mask_mobile(value: str) -> str:
    """13812345678 → 138****5678 (a +86 prefix is kept)."""
    v = value.strip()
    digits = re.sub(r"\D", "", v)
    prefix = ""
    if v.startswith("+86") or (len(digits) == 13 and digits.startswith("86")):
        prefix, digits = "+86 ", digits[2:]
    if len(digits) != 11:
        return mask_landline(value)
    return prefix + digits[:3] + "****" + digits[-4:]


def mask_landline(value: str) -> str:
    """010-62345678 → 010-****5678: the area code and the last 4 digits."""
    v = value.strip()
    area, sep, number = v.partition("-")
    if sep and number:
        digits = re.sub(r"\D", "", number)
        return f"{area}-{_stars(len(digits) - 4)}{digits[-4:]}" if len(digits) > 4 else f"{area}-{FULL}"
    digits = re.sub(r"\D", "", v)
    return _stars(len(digits) - 4) + digits[-4:] if len(digits) > 6 else FULL


def mask_bank_card(value: str) -> str:
    """6222021234567890123 → 622202*********0123: first 6 and last 4."""
    digits = re.sub(r"[\s-]", "", value)
    if len(digits) < 12:
        return mask_account_no(value)
    return digits[:6] + _stars(len(digits) - 10) + digits[-4:]


def mask_account_no(value: str) -> str:
    """Fund, securities and unified account numbers keep the last 4: ******3456."""
    v = re.sub(r"\s", "", value)
    return FULL + v[-4:] if len(v) > 4 else FULL


def mask_email(value: str) -> str:
    """zhangsan@example.com → z*******@example.com."""
    local, at, domain = value.strip().partition("@")
    if not at or not local:
        return FULL
    return local[0] + _stars(len(local) - 1) + "@" + domain


ADDRESS_PARTS = re.compile(r"^(.*?(?:省|自治区|特别行政区))?(.*?(?:市|自治州|地区|盟))?(.*?(?:区|县|市|旗))?")


def mask_address(value: str) -> str:
    """Keep province, city and district; the rest becomes ******."""
    v = value.strip()
    match = ADDRESS_PARTS.match(v)
    kept = "".join(part for part in match.groups() if part) if match else ""
    if not kept or len(kept) >= len(v):
        kept = v[:6] if len(v) > 6 and not v.isascii() else ""
    return kept + FULL


def mask_keep_last_4(value: str) -> str:
    return mask_account_no(value)


BANDS = (
    (10_000, "1万以下", "under 10k"),
    (100_000, "1万–10万", "10k–100k"),
    (500_000, "10万–50万", "100k–500k"),
    (1_000_000, "50万–100万", "500k–1M"),
    (5_000_000, "100万–500万", "1M–5M"),
    (10_000_000, "500万–1000万", "5M–10M"),
    (30_000_000, "1000万–3000万", "10M–30M"),
)


def mask_amount_band(value: Any, lang: str = "zh-CN") -> str:
    """1,234,567.89 → 100万–500万: the band, never the amount."""
    try:
        amount = abs(float(value))
    except (TypeError, ValueError):
        return FULL
    for limit, zh, en in BANDS:
        if amount < limit:
            return zh if lang.startswith("zh") else en
    return "3000万以上" if lang.startswith("zh") else "30M and above"


# ID numbers, mobiles, bank cards and account numbers written inside free text
IN_TEXT = (
    (re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])"), mask_id_number),
    (re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d{9}(?!\d)"), mask_mobile),
    (re.compile(r"(?<!\d)\d{12,19}(?!\d)"), mask_bank_card),
    (re.compile(r"(?<!\d)\d{8,11}(?!\d)"), mask_account_no),
)


def mask_free_text(value: str) -> str:
    """Notes and transcripts stay readable; the ID, mobile, card and account numbers in them do not."""
    out = value
    for pattern, rule in IN_TEXT:
        out = pattern.sub(lambda m, rule=rule: rule(m.group(0)), out)
    return out


def mask_full(value: Any) -> str:
    return FULL


RULES: dict[str, Callable[[str], str]] = {
    "name": mask_name,
    "id_number": mask_id_number,
    "mobile": mask_mobile,
    "landline": mask_landline,
    "bank_card": mask_bank_card,
    "account_no": mask_account_no,
    "email": mask_email,
    "address": mask_address,
    "keep_last_4": mask_keep_last_4,
    "free_text": mask_free_text,
    "amount_band": mask_amount_band,
    "full": mask_full,
}


def mask(rule: str | None, value: Any) -> Any:
    """``value`` as a user without access sees it; None stays None (an empty field is no secret)."""
    if value is None or value == "" or value == []:
        return value
    if isinstance(value, list):
        return [mask(rule, v) for v in value]
    fn = RULES.get(rule or "full", mask_full)
    if rule == "amount_band":
        return fn(value)
    return fn(str(value))
