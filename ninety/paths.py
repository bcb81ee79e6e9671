"""Where the repository's own tools live (npm binaries, the solc bridge, build output)."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
NODE_BIN = NODE_MODULES / ".bin"
SOLC_BRIDGE_DIR = ROOT / "tools" / "solc"
BUILD_DIR = ROOT / "build" / "contracts"


def tool_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """An environment in which brownie finds the npm solc bridge and npm's anvil."""
    env = dict(os.environ if env is None else env)
    env["SOLCX_BINARY_PATH"] = str(SOLC_BRIDGE_DIR)
    env["PATH"] = f"{NODE_BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def use_repo_tools() -> None:
    """Make this process (and brownie inside it) use the repository's own toolchain."""
    os.environ.update(tool_env())
