#!/usr/bin/env python3
"""Keep the zh_CN catalogue in step with the code.

    python scripts/i18n.py update            # extract messages, merge them into the .po
    python scripts/i18n.py missing           # list messages without a translation
    python scripts/i18n.py set 'msgid' '译文'  # set one translation

Run from the repository root with the project's virtualenv.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
TRANSLATIONS = ROOT / "platform" / "scrm" / "translations"
PO = TRANSLATIONS / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"
BIN = Path(sys.executable).parent


def update() -> None:
    pot = TRANSLATIONS / "messages.pot"
    subprocess.run(
        [
            BIN / "pybabel",
            "extract",
            "-F",
            ROOT / "babel.cfg",
            "-k",
            "_l",
            "-k",
            "N_",
            "--no-location",
            "--sort-output",
            "-o",
            pot,
            ROOT,
        ],
        check=True,
        cwd=ROOT,
    )
    subprocess.run(
        [
            BIN / "pybabel",
            "update",
            "-i",
            pot,
            "-d",
            TRANSLATIONS,
            "-l",
            "zh_Hans_CN",
            "--no-fuzzy-matching",
            "--ignore-obsolete",
        ],
        check=True,
        cwd=ROOT,
    )


def catalog():
    with PO.open("rb") as f:
        return read_po(f)


def main(args: list[str]) -> int:
    if args[:1] == ["update"]:
        update()
        args = ["missing"]
    if args[:1] == ["missing"]:
        missing = [m.id for m in catalog() if m.id and not m.string]
        for m in missing:
            print(m)
        print(f"{len(missing)} untranslated", file=sys.stderr)
        return 1 if missing else 0
    if args[:1] == ["set"] and len(args) == 3:
        c = catalog()
        if args[1] not in c:
            print(f"no such msgid: {args[1]!r}", file=sys.stderr)
            return 2
        c[args[1]].string = args[2]
        with PO.open("wb") as f:
            write_po(f, c, width=120)
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
