"""A pip install (not only a checkout) carries what `fieldproof run` needs at run time."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_carries_the_contract_the_seed_and_the_suites(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )
    (wheel,) = tmp_path.glob("fieldproof-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in [
        "fieldproof/contracts/fielding-runs.openapi.yaml",
        "fieldproof/sandbox/default-seed.toml",
        "fieldproof/suites/pytest.ini",
        "fieldproof/suites/test_concurrency.py",
    ]:
        assert needed in names, needed
    contract = zipfile.ZipFile(wheel).read("fieldproof/contracts/fielding-runs.openapi.yaml")
    assert contract == (ROOT / "contracts" / "fielding-runs.openapi.yaml").read_bytes()  # the file, not a link
