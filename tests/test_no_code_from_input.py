"""No code is ever made from input: the package never calls eval, exec or compile, and never
renders a template from a string (conditions are JSON trees, messages use plain placeholders)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "platform" / "scrm"
SOURCES = sorted(PACKAGE.rglob("*.py"))
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__", "render_template_string"}
FORBIDDEN_ATTRIBUTES = {"from_string", "render_template_string"}  # jinja2.Environment.from_string, flask


def offences(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            fn = node.func
            if isinstance(fn, ast.Name) and fn.id in FORBIDDEN_CALLS:
                found.append(f"line {node.lineno}: {fn.id}()")
            elif isinstance(fn, ast.Attribute) and fn.attr in FORBIDDEN_ATTRIBUTES:
                found.append(f"line {node.lineno}: .{fn.attr}()")
            elif (
                isinstance(fn, ast.Attribute)
                and fn.attr in ("eval", "exec")
                and isinstance(fn.value, ast.Name)
                and fn.value.id == "builtins"
            ):
                found.append(f"line {node.lineno}: builtins.{fn.attr}()")
        elif isinstance(node, ast.ImportFrom) and node.module in ("jinja2", "flask"):
            for alias in node.names:
                if alias.name in ("Template", "render_template_string"):
                    found.append(f"line {node.lineno}: from {node.module} import {alias.name}")
    return found


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(PACKAGE)) for p in SOURCES])
def test_no_eval_exec_or_string_templates(path):
    assert offences(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize(
    "snippet",
    [
        "eval(x)",
        "exec(code)",
        "compile(src, 'f', 'exec')",
        "env.from_string(text).render()",
        "from flask import render_template_string",
        "from jinja2 import Template",
        "import builtins\nbuiltins.eval(x)",
    ],
)
def test_the_scan_finds_what_it_forbids(snippet):
    assert offences(snippet)


def test_the_scan_reads_the_whole_package():
    assert len(SOURCES) > 40 and PACKAGE / "conditions" / "sql.py" in SOURCES
