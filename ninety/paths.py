"""Where the repository's own tools live (npm binaries, the solc bridge, build output).

Everything is found from this package's own location, never from the working directory, so
every command runs from anywhere. An installed copy of the package (not the checkout itself)
finds the project's files (contracts, node_modules, build, migrations, web) through
NINETY_HOME, the checkout they are in.
"""
from __future__ import annotations

import os
from pathlib import Path

from ninety.errors import ConfigError

ROOT = Path(os.environ.get("NINETY_HOME") or Path(__file__).resolve().parent.parent).resolve()
NODE_MODULES = ROOT / "node_modules"
NODE_BIN = NODE_MODULES / ".bin"
SOLC_BRIDGE_DIR = ROOT / "tools" / "solc"
BUILD_DIR = ROOT / "build" / "contracts"
BROWNIE_CONFIG = ROOT / "brownie-config.yaml"


def require_project() -> Path:
    """The project root, if it holds the contract sources and their npm dependencies."""
    if not BROWNIE_CONFIG.exists() or not (ROOT / "contracts").is_dir():
        raise ConfigError(
            f"the Ninety project (contracts, brownie-config.yaml) is not at {ROOT}: set NINETY_HOME to a "
            "Ninety checkout (with `make` run in it)"
        )
    if not NODE_MODULES.is_dir():
        raise ConfigError(f"{NODE_MODULES} is missing: run `make` in {ROOT} (it installs the compiler and "
                          "the contract libraries from npm)")
    return ROOT


def tool_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """An environment in which brownie finds the npm solc bridge and npm's anvil."""
    env = dict(os.environ if env is None else env)
    env["SOLCX_BINARY_PATH"] = str(SOLC_BRIDGE_DIR)
    env["PATH"] = f"{NODE_BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def use_repo_tools() -> None:
    """Make this process (and brownie inside it) use the repository's own toolchain."""
    os.environ.update(tool_env())
