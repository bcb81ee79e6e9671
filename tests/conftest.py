"""Shared fixtures for the Python suites: real Anvil and a real js-ipfs node, started by
Ninety's own supervisor in a temporary data dir (never on ports someone else uses).
The tiers: tests/unit is `unit`, everything else `integration`."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from ninety.cli.services import anvil_service, ipfs_service
from ninety.cli.supervisor import Service, Supervisor
from ninety.errors import ServiceError

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


def _start(supervisor: Supervisor, make: Callable[[], Service]) -> Service:
    """Start a service on a port picked free; if another process took that port before
    ours bound it (tests start servers in parallel), pick another and start again."""
    for attempt in range(3):
        try:
            return supervisor.start(make())
        except ServiceError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def ipfs_node(supervisor: Supervisor, services_dir: Path):
    return _start(supervisor, lambda: ipfs_service(services_dir, api_port=None))


@pytest.fixture(scope="session")
def anvil(supervisor: Supervisor, services_dir: Path):
    return _start(supervisor, lambda: anvil_service(services_dir, port=None))


@pytest.fixture(scope="module")
def clock_anvil(tmp_path_factory: pytest.TempPathFactory):
    """A chain for one module that moves the clock to dates of its own (the statements'
    month boundaries jump it to the next month's first second). On the shared `anvil` every
    later test of the worker would run on a chain weeks ahead of the wall clock. A module
    uses it by overriding `anvil`: `@pytest.fixture(scope="module") def anvil(clock_anvil):
    return clock_anvil`, so its fixtures that ask for `anvil` get this one."""
    d = tmp_path_factory.mktemp("clock-chain")
    with Supervisor(d) as sup:
        yield _start(sup, lambda: anvil_service(d, port=None))
