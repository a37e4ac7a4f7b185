#!/usr/bin/env python3
"""Vendor the front-end assets from the npm registry, pinned, with checksums.

    python scripts/vendor.py          # fetch with `npm pack`, verify, copy, write the manifest
    python scripts/vendor.py --check  # verify the committed files against the manifest

Brokerages deploy offline: nothing is ever loaded from a CDN. The manifest records, per file,
the npm package and version, the tarball's integrity string and the file's SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VENDOR = Path(__file__).resolve().parents[1] / "platform" / "scrm" / "static" / "vendor"
MANIFEST = VENDOR / "vendor.json"
PACKAGES = {
    "htmx.org@2.0.11": {"package/dist/htmx.min.js": "htmx/htmx.min.js", "package/LICENSE": "htmx/LICENSE"},
    "bootstrap@5.3.8": {
        "package/dist/css/bootstrap.min.css": "bootstrap/bootstrap.min.css",
        "package/dist/js/bootstrap.bundle.min.js": "bootstrap/bootstrap.bundle.min.js",
        "package/LICENSE": "bootstrap/LICENSE",
    },
    "bootstrap-icons@1.13.1": {
        "package/font/bootstrap-icons.min.css": "bootstrap-icons/bootstrap-icons.min.css",
        "package/font/fonts/bootstrap-icons.woff2": "bootstrap-icons/fonts/bootstrap-icons.woff2",
        "package/font/fonts/bootstrap-icons.woff": "bootstrap-icons/fonts/bootstrap-icons.woff",
        "package/LICENSE": "bootstrap-icons/LICENSE",
    },
    "echarts@6.1.0": {"package/dist/echarts.min.js": "echarts/echarts.min.js", "package/LICENSE": "echarts/LICENSE"},
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch() -> None:
    entries = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec, files in PACKAGES.items():
            out = subprocess.run(["npm", "pack", spec, "--json"], cwd=tmp, check=True, capture_output=True, text=True)
            info = json.loads(out.stdout)[0]
            with tarfile.open(Path(tmp) / info["filename"]) as tar:
                for member, target in files.items():
                    dest = VENDOR / target
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    with tar.extractfile(member) as src, dest.open("wb") as dst:
                        shutil.copyfileobj(src, dst)
                    entries.append(
                        {
                            "package": info["name"],
                            "version": info["version"],
                            "integrity": info["integrity"],
                            "source": member,
                            "path": target,
                            "sha256": sha256(dest),
                        }
                    )
    MANIFEST.write_text(json.dumps(entries, indent=2) + "\n")
    print(f"vendored {len(entries)} files into {VENDOR}")


def check() -> int:
    bad = 0
    for entry in json.loads(MANIFEST.read_text()):
        path = VENDOR / entry["path"]
        if not path.exists() or sha256(path) != entry["sha256"]:
            print(f"checksum mismatch: {entry['path']}")
            bad += 1
    print("vendored assets verified" if not bad else f"{bad} vendored files differ from the manifest")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(check() if "--check" in sys.argv else fetch())
