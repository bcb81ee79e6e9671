"""Shared fixtures for the Python suites: real Anvil and a real js-ipfs node, started by
Ninety's own supervisor in a temporary data dir (never on ports someone else uses).
The tiers: tests/unit is `unit`, everything else `integration`."""
from __future__ import annotations

from pathlib import Path

import pytest

from ninety.cli.services import anvil_service, ipfs_service
from ninety.cli.supervisor import Supervisor

UNIT = Path(__file__).resolve().parent / "unit"


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by these marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(pytest.mark.unit if UNIT in item.path.parents else pytest.mark.integration)


@pytest.fixture(scope="session")
def services_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("services")


@pytest.fixture(scope="session")
def supervisor(services_dir: Path):
    with Supervisor(services_dir) as sup:
        yield sup


@pytest.fixture(scope="session")
def ipfs_node(supervisor: Supervisor, services_dir: Path):
    return supervisor.start(ipfs_service(services_dir, api_port=None))


@pytest.fixture(scope="session")
def anvil(supervisor: Supervisor, services_dir: Path):
    return supervisor.start(anvil_service(services_dir, port=None))
