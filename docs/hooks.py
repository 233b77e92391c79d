"""MkDocs hook: a page's `<!-- generated: NAME -->` markers become the pages fieldproof.manual
writes from the code (the rule reference, the exit codes, the fault modes)."""

from __future__ import annotations

from typing import Any

from fieldproof import manual


def on_page_markdown(markdown: str, **_: Any) -> str:
    return manual.fill(markdown)
