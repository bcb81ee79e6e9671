"""Run Slither on contracts/Marketplace.sol and fail on any high or medium finding.

Slither lives in its own virtualenv (its dependencies clash with brownie's pins) and
compiles through our solcjs bridge in standard-JSON mode, the only mode the bridge
speaks. Findings in OpenZeppelin's code are not ours to fix and are left out.
Run: `make slither`."""
from __future__ import annotations

import inspect
import sys
from pathlib import Path

from crytic_compile import CryticCompile
from crytic_compile.platform.solc_standard_json import SolcStandardJson
from slither import Slither
from slither.detectors import all_detectors

ROOT = Path(__file__).resolve().parent.parent
TARGET = "contracts/Marketplace.sol"


def main() -> int:
    standard = SolcStandardJson()
    standard.add_source_file(TARGET)
    standard.add_remapping("@openzeppelin/contracts=node_modules/@openzeppelin/contracts")
    compiled = CryticCompile(standard, solc=str(ROOT / "tools" / "solc" / "solc-v0.8.28"))
    slither = Slither(compiled)
    for _, detector in inspect.getmembers(all_detectors, inspect.isclass):
        slither.register_detector(detector)
    blocking = 0
    for findings in slither.run_detectors():
        for finding in findings:
            files = {(e.get("source_mapping") or {}).get("filename_relative", "") for e in finding["elements"]}
            if files and all(f.startswith("node_modules") for f in files):
                continue
            severe = finding["impact"] in ("High", "Medium")
            blocking += severe
            print(f"[{finding['impact']}] {finding['check']}: {finding['description'].strip()}")
    print(f"slither: {blocking} high/medium finding(s) in {TARGET}")
    return 1 if blocking else 0


if __name__ == "__main__":
    sys.exit(main())
