"""The README and the manual (docs/): every code block runs on its own, the generated pages cover
the code's registries, and the README stays short.

Each fenced block is tested alone, in a fresh folder, by its language:

- python: written to a file and run in a subprocess (no block sees another block's names);
- toml: a target file (it has `base_url`) is read by fieldproof.target's own reader with its
  `*_env` variables set; a baseline (`[[accept]]`) by fieldproof.baseline's; anything else is a
  sandbox settings file, read by the sandbox's loader;
- yaml: parsed; a workflow that uses the fieldproof Action pins the version pyproject.toml holds;
- bash: run with this venv's `bin` first on PATH (`.venv/bin/` in a block means it). One command
  a line; a command exits 0 unless its line ends `# exits N`. A command `.ci/run` runs (the
  install, the project's tests, the selfcheck) is checked to be `.ci/run`'s own and not run
  again: CI runs it. `fieldproof run` is narrowed to the first pass at the quick profile
  (`--profile quick --suites first_pass`) unless the line names its own profile or suites, so
  the whole file stays fast;
- text: output, not run.

A block whose first line is `# not run by the docs test: <why>` is not run; a reader sees the
line, and the test caps how many there are.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from fieldproof import contract, errors, manual, rules, target
from fieldproof.baseline import load_baseline
from fieldproof.sandbox.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
BIN = Path(sys.executable).parent
NOT_RUN = "# not run by the docs test:"
MOST_NOT_RUN = 7  # the exceptions: a staging host, GitHub, a server that runs until Ctrl-C, minutes of load
LANGUAGES = {"python", "toml", "yaml", "bash", "text"}
NARROWED = ["--profile", "quick", "--suites", "first_pass"]
README_MOST_BYTES = 10 * 1024


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # of the opening fence
    language: str
    code: str

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def not_run(self) -> bool:
        return self.code.startswith(NOT_RUN)


def blocks_of(page: Path) -> list[Block]:
    found, lines = [], page.read_text().splitlines()
    start: int | None = None
    for number, line in enumerate(lines, 1):
        fence = re.match(r"^```(\S*)", line)
        if fence and start is None:
            start, language = number, fence.group(1)
        elif line.strip() == "```" and start is not None:
            found.append(Block(page, start, language, "\n".join(lines[start:number - 1]) + "\n"))
            start = None
    assert start is None, f"{page}:{start}: a code block is never closed"
    return found


ALL = [block for page in PAGES for block in blocks_of(page)]


def of(language: str) -> list[Block]:
    return [block for block in ALL if block.language == language]


def params(language: str) -> list[object]:
    return [pytest.param(block, id=block.id) for block in of(language)]


def test_every_block_says_its_language() -> None:
    odd = [f"{block.id} ({block.language or 'none'})" for block in ALL if block.language not in LANGUAGES]
    assert not odd, f"code blocks in a language this test does not run: {odd}; use one of {sorted(LANGUAGES)}"


def test_few_blocks_are_not_run_and_each_says_why() -> None:
    skipped = [block for block in ALL if block.not_run]
    assert len(skipped) <= MOST_NOT_RUN, f"{len(skipped)} blocks are not run: {[b.id for b in skipped]}"
    for block in skipped:
        why = block.code.splitlines()[0].removeprefix(NOT_RUN).strip()
        assert len(why) > 10, f"{block.id}: say why the block is not run"


# --- python ---------------------------------------------------------------------------------


@pytest.mark.parametrize("block", params("python"))
def test_python_block_runs_alone(block: Block, tmp_path: Path) -> None:
    script = tmp_path / "test_snippet.py"  # a name pytest collects, for a block that runs pytest on itself
    script.write_text(block.code)
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{block.id} failed:\n{done.stdout}\n{done.stderr}"


# --- toml -----------------------------------------------------------------------------------


@pytest.mark.parametrize("block", params("toml"))
def test_toml_block_is_read_by_its_own_reader(block: Block, tmp_path: Path) -> None:
    data = tomllib.loads(block.code)
    path = tmp_path / "block.toml"
    path.write_text(block.code)
    if "base_url" in data:
        env = {value: f"docs-test-token-{n}" for n, (key, value) in enumerate(data.items()) if key.endswith("_env")}
        loaded = target.load_target(path, env)
        assert loaded.runs, block.id
    elif "accept" in data:
        assert load_baseline(path).entries, block.id
    else:
        load_settings(config_file=path, env={})


# --- yaml -----------------------------------------------------------------------------------


def _version() -> str:
    return str(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"])


@pytest.mark.parametrize("block", params("yaml"))
def test_yaml_block_parses_and_pins_the_action(block: Block) -> None:
    workflow = yaml.safe_load(block.code)
    assert isinstance(workflow, dict), block.id
    uses = re.findall(r"uses:\s*(\S+)", block.code)
    ours = [use for use in uses if use.startswith("fieldproof/fieldproof")]
    assert ours, f"{block.id}: the workflow does not use the fieldproof Action"
    assert ours == [f"fieldproof/fieldproof@v{_version()}"] * len(ours), f"{block.id}: pin the Action to v{_version()}, got {ours}"
    assert not [use for use in uses if use.endswith(("@main", "@master"))], f"{block.id}: an unpinned Action"


def test_the_readme_shows_a_pinned_workflow() -> None:
    assert any(block.page.name == "README.md" for block in of("yaml"))


# --- bash -----------------------------------------------------------------------------------


def _normal(command: str) -> str:
    return " ".join(shlex.split(command.replace(".venv/bin/", "")))


@functools.cache
def _ci_commands() -> frozenset[str]:
    """The commands `.ci/run` runs, as the docs would spell them."""
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    return frozenset(_normal(part) for line in lines if line and not line.startswith("#") for part in line.split("&&"))


@functools.cache
def _narrowed(command: str) -> str:
    words = shlex.split(command)
    at = next((i for i in range(len(words) - 1) if words[i].endswith("fieldproof") and words[i + 1] == "run"), None)
    if at is None or "--help" in words:
        return command
    prefix, args = words[: at + 2], words[at + 2:]
    if not {"--profile", "--suites"} & set(args):
        args += NARROWED
    return shlex.join([*prefix, *args])


def _script(block: Block) -> tuple[str, list[str]]:
    """The block as a bash script (each command checked for its exit code), and the commands
    left to CI."""
    lines, left_to_ci = [], []
    for raw in block.code.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        command, _, comment = line.partition("  #")
        expected = re.match(r"\s*exits (\d+)", comment)
        parts = [part.strip() for part in command.split("&&")]
        ours = [part for part in parts if _normal(part) not in _ci_commands()]
        left_to_ci += [part for part in parts if part not in ours]
        if not ours:
            continue
        run = " && ".join(_narrowed(part.replace(".venv/bin/", f"{BIN}/")) for part in ours)
        code = int(expected.group(1)) if expected else 0
        check = f"if [ $rc -ne {code} ]; then echo \"command {len(lines) + 1} exited $rc, not {code}\" >&2; exit 97; fi"
        lines.append(f"( {run} ); rc=$?; {check}")
    return "\n".join(["set -uo pipefail", *lines]) + "\n", left_to_ci


@functools.cache
def _ran(script: str) -> subprocess.CompletedProcess[str]:
    """One run of a script in a fresh folder: a block the README and the manual both show is run once."""
    import tempfile

    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDPROOF_SANDBOX_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    with tempfile.TemporaryDirectory(prefix="fieldproof-docs-") as folder:
        return subprocess.run(["bash", "-c", script], cwd=folder, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("block", [pytest.param(block, id=block.id) for block in of("bash") if not block.not_run])
def test_bash_block_runs_alone(block: Block) -> None:
    script, left_to_ci = _script(block)
    done = _ran(script)
    assert done.returncode == 0, f"{block.id} failed:\n{script}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    for command in left_to_ci:  # not run here: CI runs them, as .ci/run spells them
        assert _normal(command) in _ci_commands()


def test_the_readme_set_up_commands_are_the_ones_ci_runs() -> None:
    readme = [block for block in of("bash") if block.page.name == "README.md" and not block.not_run]
    left = [command for block in readme for command in _script(block)[1]]
    assert "python -m pytest -n 2" in {_normal(c) for c in left}, "the README's test command is not the one .ci/run runs"
    assert 'pip install -q -e ".[dev]"'.replace('"', "") in {_normal(c).replace('"', "") for c in left}


# --- the generated pages --------------------------------------------------------------------


def test_every_rule_has_an_example_and_an_entry() -> None:
    assert set(manual.EXAMPLES) == set(rules.all_rules()), "every rule needs an example in fieldproof/manual.py EXAMPLES"
    page = manual.rules_page()
    for name, rule in rules.all_rules().items():
        assert f"## `{name}`" in page
        assert manual.example_finding(name).rule == name
        assert f"**Severity:** {manual.severity_name(rule)}" in page


def test_a_rule_without_an_example_fails_the_page(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(manual.EXAMPLES, "stale_tag_refused")
    with pytest.raises(manual.ManualError, match="stale_tag_refused"):
        manual.rules_page()


def test_the_rule_reference_lists_the_documented_facts() -> None:
    page = manual.rules_page()
    from fieldproof import ledger

    for fact in ledger.FACTS:
        assert f"`{fact.name}`: {fact.says}" in page


def test_the_exit_codes_page_is_errors_exit_codes() -> None:
    page = manual.exit_codes_page()
    for code in errors.ExitCode:
        assert f"| {int(code)} | `{code.name}` | {errors.MEANINGS[code]} |" in page.replace("\\|", "|")
    assert "`TargetError`" in page and "`TokenRejected`" in page


def test_every_marker_names_a_page_and_every_page_is_shown() -> None:
    markers = {name for page in DOCS.glob("*.md") for name in manual.MARKER.findall(page.read_text())}
    assert markers == set(manual.PAGES)
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    assert spec and spec.loader
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    filled = hooks.on_page_markdown((DOCS / "exit-codes.md").read_text(), page=None, config=None, files=None)
    assert "<!-- generated" not in filled and "| 130 | `INTERRUPTED` |" in filled


def test_the_target_file_reference_has_every_key_target_py_reads() -> None:
    text = (DOCS / "target-file.md").read_text()
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| ([^|]+) \|", text, re.M))
    documented = {key for key in rows if key not in contract.ROLES}
    assert documented == target._KEYS | target._RUN_KEYS
    assert {key for key in rows if key in contract.ROLES} == set(contract.ROLES)
    defaults = dict(re.findall(r"^\| `([a-z_]+)` \| [^|]+ \| ([^|]+) \|", text, re.M))
    fields = {f.name: f.default for f in target.Target.__dataclass_fields__.values()}
    for key in ("max_requests", "timeout_s", "max_body_bytes", "max_duration_s"):
        assert float(defaults[key].split()[0]) == fields[key], key
    for key, (cap, _unit) in target.CAPS.items():
        line = next(line for line in text.splitlines() if line.startswith(f"| `{key}` |"))
        assert f"{cap:,}" in line or (key == "max_body_bytes" and "64 MiB" in line), f"{key}: its cap {cap} is not documented"


# --- the README -------------------------------------------------------------------------------


def test_the_readme_is_short() -> None:
    size = len((ROOT / "README.md").read_bytes())
    assert size <= README_MOST_BYTES, f"README.md is {size} bytes; the manual (docs/) is where more goes"


def test_the_readme_links_only_to_pages_that_exist() -> None:
    text = (ROOT / "README.md").read_text()
    for link in re.findall(r"\]\((docs/[^)#]+)", text):
        assert (ROOT / link).is_file(), link


def test_every_glossary_word_names_the_module_that_owns_it() -> None:
    """Each entry of the glossary ends by naming its owner, and the owner exists: a newcomer can
    go from any word to the one module that owns its idea."""
    text = (DOCS / "glossary.md").read_text()
    entries = re.split(r"^## ", text, flags=re.M)[1:]
    assert len(entries) > 30
    missing, gone = [], []
    for entry in entries:
        word = entry.splitlines()[0]
        owners = re.findall(r"Owner[^:]*: `((?:fieldproof|tests)/[^`]+)`", entry.replace("\n", " "))
        if not owners:
            missing.append(word)
        gone += [f"{word}: {owner}" for owner in owners if not (ROOT / owner).exists()]
    assert not missing, f"glossary entries that name no owner: {missing}"
    assert not gone, f"glossary owners that do not exist: {gone}"
