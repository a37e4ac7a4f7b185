"""Front-end assets are vendored from npm with pinned versions and checksums; never a CDN."""

import hashlib
import json
import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
VENDOR = ROOT / "platform" / "scrm" / "static" / "vendor"


def test_vendored_files_match_their_checksums():
    manifest = json.loads((VENDOR / "vendor.json").read_text())
    versions = {e["package"]: e["version"] for e in manifest}
    assert versions["htmx.org"].startswith("2.0.")
    for entry in manifest:
        data = (VENDOR / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["path"]


def test_templates_load_nothing_from_elsewhere():
    for path in (ROOT / "templates").rglob("*.html"):
        html = path.read_text(encoding="utf-8")
        assert not re.search(r"""(src|href)=["']https?://""", html), path
        assert "<script>" not in html, f"inline script in {path} (CSP forbids it)"
