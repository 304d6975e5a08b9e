"""The import picture: layers that import only downwards, handlers that import none of each
other, no circle anywhere (the contracts are in pyproject.toml, checked with import-linter)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent


def lint_imports(where: Path) -> subprocess.CompletedProcess[str]:
    """import-linter run on the package found at ``where`` (its own pyproject.toml)."""
    tool = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": str(where)}
    return subprocess.run(
        [str(tool), "--no-cache"], cwd=where, env=env, capture_output=True, text=True, timeout=120
    )


def layered_modules() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = (c["layers"] for c in config["contracts"] if c["type"] == "layers")
    return {name.strip() for layer in layers for name in layer.split("|")}


def test_the_import_contracts_hold() -> None:
    run = lint_imports(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 kept, 0 broken" in run.stdout


def test_every_module_has_a_layer() -> None:
    """A new module cannot slip past the layers by being in none of them."""
    layered = layered_modules()
    graph = grimp.build_graph("bot")
    packages = {"bot", "bot.handlers"}  # containers only: their __init__ imports nothing

    def covered(module: str) -> bool:
        return any(module == m or module.startswith(m + ".") for m in layered)

    assert sorted(m for m in graph.modules if m not in packages and not covered(m)) == []
    for package in packages:
        assert graph.find_modules_directly_imported_by(package) == set()


def _copy_with(tmp_path: Path, module: str, line: str) -> Path:
    shutil.copytree(ROOT / "bot", tmp_path / "bot", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    path = tmp_path / "bot" / module
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")
    return tmp_path


def test_an_upward_import_breaks_the_layers(tmp_path: Path) -> None:
    run = lint_imports(_copy_with(tmp_path, "render/views.py", "from bot.handlers import browse"))
    assert run.returncode != 0
    assert "bot.render is not allowed to import bot.handlers.browse" in run.stdout


def test_a_handler_importing_another_breaks_the_layers(tmp_path: Path) -> None:
    line = "from bot.handlers import subscriptions"
    run = lint_imports(_copy_with(tmp_path, "handlers/follows.py", line))
    assert run.returncode != 0
    assert "bot.handlers.follows is not allowed to import bot.handlers.subscriptions" in run.stdout


def test_a_circle_inside_a_package_breaks_the_contracts(tmp_path: Path) -> None:
    run = lint_imports(_copy_with(tmp_path, "store/models.py", "import bot.store.alerts"))
    assert run.returncode != 0
    assert "No cycles are allowed in bot.store" in run.stdout
