"""The stage order of imports (docs/architecture.md, "Stages"): a module imports from its own
stage and from the stages beneath it, never from one above. A new module must be given a stage
here, so that where it sits is decided once, on purpose."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "fieldproof"

# Top to bottom. Each entry: the stage, then the modules in it (a package name covers its modules).
STACK: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("cli", ("__main__", "cli", "manual")),
    ("session", ("session", "replay", "selfcheck", "lint", "swarm.command", "testing")),
    ("parts", ("plugin",)),
    ("suites", ("suites", "resources", "resource_restore", "bodies", "harness", "probes", "fuzz", "strategies", "fielding_runs",
                "swarm")),
    ("client", ("client",)),
    ("reports", ("report", "ci", "progress")),
    ("verdict", ("report.summary", "baseline", "reproduce")),
    ("records", ("records", "recorder")),
    ("rules", ("rules", "linearizability", "model", "ledger", "swarm.history")),
    ("sandbox", ("sandbox",)),
    ("vocabulary", ("surface", "__init__", "errors", "contract", "headers", "exchange", "facts", "target", "document", "profiles",
                    "tomlfile", "files", "userfiles", "userdirs", "locks", "interrupts", "swarm.config")),
)
RANK = {name: rank for rank, (_, names) in enumerate(STACK) for name in names}


def stage_of(module: str) -> int:
    """The stage of a module named from the package (`report.summary`): its own entry, else its
    package's, the longest name first."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in RANK:
            return RANK[".".join(parts[:n])]
    raise AssertionError(f"fieldproof.{module} has no stage: give it one in tests/test_stages.py (and docs/architecture.md)")


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)
        found[name] = path
    return found


def imports_of(path: Path, known: dict[str, Path]) -> set[str]:
    """The fieldproof modules a file imports, named from the package (`from fieldproof import
    rules` is `rules`; `from fieldproof.rules import Finding` is `rules`)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.split(".")[0] == "fieldproof":
            base = node.module.removeprefix("fieldproof").removeprefix(".")
            for alias in node.names:
                sub = f"{base}.{alias.name}".lstrip(".")
                found.add(sub if sub in known else base or "__init__")
        elif isinstance(node, ast.Import):
            found.update(a.name.removeprefix("fieldproof.") for a in node.names if a.name.startswith("fieldproof."))
    return found


def test_every_module_has_a_stage() -> None:
    for name in modules():
        stage_of(name)


def test_no_module_imports_from_a_stage_above_its_own() -> None:
    known = modules()
    upward = []
    for name, path in sorted(known.items()):
        for imported in sorted(imports_of(path, known)):
            if stage_of(imported) < stage_of(name):
                upward.append(f"fieldproof.{name} ({STACK[stage_of(name)][0]}) imports fieldproof.{imported} ({STACK[stage_of(imported)][0]})")
    assert not upward, "imports that run back up the stages:\n" + "\n".join(upward)


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    """The rule above can fail: a rule module importing the client is caught."""
    module = tmp_path / "sample.py"
    module.write_text("from fieldproof.client.recording import ApiClient\nfrom fieldproof import errors\n")
    imported = imports_of(module, modules())
    assert imported == {"client.recording", "errors"}
    assert stage_of("client.recording") < stage_of("rules") and stage_of("errors") > stage_of("rules")
