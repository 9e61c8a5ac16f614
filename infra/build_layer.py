#!/usr/bin/env python3
"""Build the Lambda dependencies layer: ``python infra/build_layer.py [--layer-dir build/layer]``.

Installs the runtime dependencies of pyproject.toml (``[project].dependencies``) into
``<layer dir>/python`` as Linux arm64 / CPython 3.11 wheels (what the functions run on), whatever
the build machine is. The CDK app deploys that directory as the functions' one layer.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = REPO_ROOT / "pyproject.toml"
DEFAULT_LAYER_DIR = REPO_ROOT / "build" / "layer"

# Must match infra/constructs/functions.py (RUNTIME, ARCHITECTURE).
PLATFORM = "manylinux2014_aarch64"
PYTHON_VERSION = "3.11"


def runtime_dependencies(pyproject: Path = PYPROJECT) -> list[str]:
    """The requirement strings of ``[project].dependencies``."""
    with pyproject.open("rb") as file:
        project = tomllib.load(file).get("project", {})
    dependencies = project.get("dependencies")
    if not dependencies:
        raise SystemExit(f"{pyproject}: [project].dependencies is empty; nothing to put in the layer")
    return [str(requirement) for requirement in dependencies]


def pip_command(layer_dir: Path, requirements: Sequence[str], python: str = sys.executable) -> list[str]:
    """The pip invocation that installs ``requirements`` for the Lambda platform into ``layer_dir/python``."""
    return [
        python,
        "-m",
        "pip",
        "install",
        "--target",
        str(layer_dir / "python"),
        "--platform",
        PLATFORM,
        "--implementation",
        "cp",
        "--python-version",
        PYTHON_VERSION,
        # Wheels only: an sdist would be built for this machine, not for Lambda.
        "--only-binary=:all:",
        # Bytecode compiled here would not match the runtime's paths; Lambda compiles on first import.
        "--no-compile",
        "--disable-pip-version-check",
        "--upgrade",
        *requirements,
    ]


def build(layer_dir: Path, *, dry_run: bool = False) -> list[str]:
    """Rebuild the layer from scratch (stale packages must not linger); returns the pip command."""
    command = pip_command(layer_dir, runtime_dependencies())
    if dry_run:
        return command
    if layer_dir.exists():
        shutil.rmtree(layer_dir)
    layer_dir.mkdir(parents=True)
    subprocess.run(command, check=True)
    return command


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--layer-dir", type=Path, default=DEFAULT_LAYER_DIR, help="default: build/layer")
    parser.add_argument("--dry-run", action="store_true", help="print the pip command, install nothing")
    args = parser.parse_args(argv)
    layer_dir = args.layer_dir if args.layer_dir.is_absolute() else (Path.cwd() / args.layer_dir)
    command = build(layer_dir, dry_run=args.dry_run)
    print(" ".join(command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
