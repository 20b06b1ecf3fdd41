"""The layers of ../shared/DESIGN.md hold: imports run one way, and the pure code has no Dagster.

The contracts are in pyproject.toml ([tool.importlinter]); `lint-imports` checks them. The
second test copies the packages, adds one upward import and shows the check catches it.
"""

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("orchestration", "assets", "core", "schemas")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
                          cwd=root, capture_output=True, text=True, timeout=120)  # fmt: skip


def test_the_import_contracts_hold():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_upward_import_breaks_the_layers(tmp_path):
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    (tmp_path / "core" / "upward.py").write_text("from assets.resources import DatasetStore  # wrong way\n")
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert "core is not allowed to import assets" in result.stdout
    assert "core.upward -> assets.resources" in result.stdout


def test_every_command_module_is_in_the_independence_contract():
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    (commands,) = [c for c in contracts if c["id"] == "commands"]
    shared = {"__init__", "options", "render", "errors"}
    modules = {f"orchestration.cli.{p.stem}" for p in (ROOT / "orchestration" / "cli").glob("*.py") if p.stem not in shared}
    assert modules == set(commands["modules"])
