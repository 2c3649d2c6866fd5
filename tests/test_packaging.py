"""Every package builds on its own, and its wheel installs with only its declared dependencies and imports."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = sorted(p.name for p in (ROOT / "packages").iterdir() if (p / "pyproject.toml").is_file())
UV = shutil.which("uv")

pytestmark = [pytest.mark.slow, pytest.mark.skipif(UV is None, reason="uv is not installed")]


def _run(*args: str, cwd: Path = ROOT, env: dict | None = None) -> str:
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    for name in PACKAGES:
        _run(UV, "build", "--package", name, "--wheel", "--out-dir", str(out), "--quiet")
    return out


def _modules_of(package_dir: Path) -> list[str]:
    src = package_dir / "src"
    return sorted(
        ".".join(path.relative_to(src).with_suffix("").parts).removesuffix(".__init__")
        for path in src.rglob("*.py")
        if "__pycache__" not in path.parts
    )


@pytest.mark.parametrize("name", PACKAGES)
def test_wheel_installs_alone_and_imports(name, wheels, tmp_path):
    wheel = next(wheels.glob(f"{name.replace('-', '_')}-*.whl"))
    assert not (tmp_path / "sgm" / "__init__.py").exists()
    # The package's own dependency closure, pinned as in uv.lock, without the other workspace members.
    requirements = tmp_path / "requirements.txt"
    _run(UV, "export", "--frozen", "--package", name, "--no-emit-workspace", "--no-hashes", "--no-dev",
         "--no-header", "-o", str(requirements), "--quiet")
    venv = tmp_path / "venv"
    _run(UV, "venv", "--quiet", "--python", sys.executable, str(venv))
    python = venv / "bin" / "python"
    env = {**os.environ, "VIRTUAL_ENV": str(venv), "UV_LINK_MODE": os.environ.get("UV_LINK_MODE", "hardlink")}
    _run(UV, "pip", "install", "--quiet", "--python", str(python), "--find-links", str(wheels),
         "-r", str(requirements), str(wheel), env=env)
    modules = _modules_of(ROOT / "packages" / name)
    assert modules, f"{name} has no modules"
    script = "import importlib, sys\nfor m in sys.argv[1:]:\n    importlib.import_module(m)\nprint('ok')"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    assert _run(str(python), "-c", script, *modules, cwd=tmp_path, env=env).strip().endswith("ok")
    if name == "sgm-pipelines":  # the catalog's models come from the installed packages' entry points: run digits
        sample = "from sgm.pipelines import Request, run\nprint(*run(Request(device='cpu', steps=2)))"
        (written,) = _run(str(python), "-c", sample, cwd=tmp_path, env=env).split()
        assert (tmp_path / written).is_file() and written.endswith(".png")
