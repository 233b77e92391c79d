"""`fieldproof run --contract` with a provider's own document, end to end on the built-in sandbox."""

from __future__ import annotations

from pathlib import Path

from helpers import fieldproof_run, rules_by_name, summary
from vendor_like import write_vendor_like


def test_a_document_shaped_like_the_vendors_passes_on_the_sandbox(tmp_path: Path) -> None:
    """The vendor's YAML (an unquoted `example: 2025-12-18`, timestamps, anchors, `? ` keys) and
    shapes (tests/vendor_like.py): the correct sandbox passes, schemathesis included."""
    document = write_vendor_like(tmp_path / "vendor-like.yml")
    result = fieldproof_run(tmp_path, "--contract", str(document), "--profile", "quick")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    data = summary(tmp_path)
    assert rules_by_name(data)["schemathesis"]["checks"] > 50  # the document was fuzzed, not skipped
    assert data["tests"]["errors"] == [] and data["problems"] == []
    assert all(line > 0 for line in data["contract"]["lines"].values())
