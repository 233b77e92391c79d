"""The seam between a session and pytest: one `ProcessState` in `config.stash`, handed over or
built from the part's settings file, and no module state in the plugin; suites that import the
harness and the probes, never each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from helpers import one_run_target
from hypothesis import settings

from fieldproof import harness, plugin, suites
from fieldproof.harness import Harness, PartSettings, build_state

PACKAGE = Path(harness.__file__).resolve().parent


def _module_level_values(path: Path) -> list[tuple[str, ast.expr]]:
    tree = ast.parse(path.read_text())
    found = []
    for node in tree.body:
        if isinstance(node, ast.Assign):
            found += [(ast.unparse(target), node.value) for target in node.targets]
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            found.append((ast.unparse(node.target), node.value))
    return found


def _mutable(value: ast.expr) -> bool:
    """A display or a call that makes a container a module could fill in and read back."""
    if isinstance(value, (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)):
        return True
    return isinstance(value, ast.Call) and ast.unparse(value.func) in ("dict", "list", "set", "defaultdict", "deque")


@pytest.mark.parametrize("module", ["plugin.py", "harness.py"])
def test_the_seam_keeps_no_state_in_a_module(module: str) -> None:
    tree = ast.parse((PACKAGE / module).read_text())
    assert not [node for node in ast.walk(tree) if isinstance(node, ast.Global)]
    assert [name for name, value in _module_level_values(PACKAGE / module) if _mutable(value)] == []


def test_the_config_holds_one_fieldproof_key() -> None:
    keys = [name for module in (plugin, harness) for name, value in vars(module).items() if isinstance(value, pytest.StashKey)]
    assert isinstance(harness.STATE, pytest.StashKey) and plugin.STATE is harness.STATE
    # besides STATE, only an item's own key (its finding groups, between its call and its report)
    assert sorted(set(keys)) == ["STATE", "_FINDINGS"]
    for module in ("plugin.py", "harness.py", "session.py"):  # no attributes of our own set on pytest's objects
        assert "._fieldproof" not in (PACKAGE / module).read_text() and "attr-defined" not in (PACKAGE / module).read_text()


def test_no_suite_imports_another_suite() -> None:
    for path in suites.FOLDER.glob("test_*.py"):
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        suite_modules = {name for name in imported if name.startswith("fieldproof.suites.test_")}
        assert suite_modules == set(), f"{path.name} imports {suite_modules}"


def test_a_part_run_in_the_sessions_process_uses_the_state_it_is_handed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The session hands a part its state (with the limits of the parts before it); the `fp`
    fixture's harness is built from that state, in `config.stash[STATE]`, and nothing else."""
    monkeypatch.setenv("FIELDPROOF_TOKEN", "t")
    monkeypatch.delenv(harness.PART_ENV, raising=False)  # the handed state, not a settings file
    target = one_run_target(tmp_path / "t.toml", "http://127.0.0.1:9/v1")
    state = build_state(PartSettings(str(target), str(tmp_path), budget=40, progress=False))
    state.limits.budget.spend()  # as an earlier part would have
    (tmp_path / "test_seen.py").write_text(
        "from fieldproof.harness import STATE\n"
        "def test_seen(fp, request):\n"
        "    assert request.config.stash[STATE].harness is fp\n"
        "    assert fp.client.budget.spent == 1\n"
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    profile = settings.get_current_profile_name()
    try:
        code = pytest.main([str(tmp_path / "test_seen.py"), "-c", str(tmp_path / "pytest.ini"), "-p", "fieldproof.plugin",
                            "-p", "no:cacheprovider", "-q", "-p", "no:xdist"], plugins=[plugin.GivenState(state)])
    finally:
        settings.load_profile(profile)  # the part loads its own hypothesis profile
    assert code == 0
    assert isinstance(state.harness, Harness) and state.harness.client.budget is state.limits.budget
    assert state.harness.client.pacer is state.limits.pacer and state.harness.client.liveness is state.limits.liveness
