"""The service supervisor: start, readiness, restart, port conflicts, and no orphans
after a clean stop, a crash of the parent, or a leftover from an earlier run."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ninety.errors import PortInUseError, ServiceError
from ninety.cli.services import anvil_service
from ninety.cli.supervisor import Service, Supervisor, free_port, stop_leftover
from tests.support.processes import alive, wait_dead


def rpc(url: str, method: str, params: list | None = None):
    import urllib.request

    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())["result"]


def test_anvil_starts_ready_on_loopback_and_stops(tmp_path):
    with Supervisor(tmp_path) as sup:
        anvil = sup.start(anvil_service(tmp_path, port=None))
        assert anvil.url.startswith("http://127.0.0.1:")
        assert int(rpc(anvil.url, "eth_chainId"), 16) == 31337
        assert anvil.log_path.exists() and anvil.pid_path.exists()
        pid = anvil.pid
    assert wait_dead(pid)
    assert not anvil.pid_path.exists()


def test_restart_brings_the_service_back_on_the_same_port(tmp_path):
    with Supervisor(tmp_path) as sup:
        anvil = sup.start(anvil_service(tmp_path, port=None))
        first = anvil.pid
        anvil.restart()
        assert anvil.pid != first and wait_dead(first)
        assert int(rpc(anvil.url, "eth_chainId"), 16) == 31337


def test_a_taken_port_is_replaced_by_a_free_one_or_named_in_the_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert free_port(port) != port
        with pytest.raises(PortInUseError, match=str(port)):
            free_port(port, strict=True)
        with Supervisor(tmp_path) as sup:
            anvil = sup.start(anvil_service(tmp_path, port=port))
            assert anvil.port != port


def test_a_service_that_dies_while_starting_reports_its_log(tmp_path):
    bad = Service(name="broken", argv=[sys.executable, "-c", "print('boom'); raise SystemExit(3)"],
                  port=0, ready=lambda: False, data_dir=tmp_path)
    with pytest.raises(ServiceError, match="exited with code 3(.|\n)*boom"):
        bad.start()


def test_a_service_never_ready_is_stopped_after_its_timeout(tmp_path):
    slow = Service(name="slow", argv=[sys.executable, "-c", "import time; time.sleep(60)"],
                   port=0, ready=lambda: False, data_dir=tmp_path, ready_timeout=1)
    with pytest.raises(ServiceError, match="not ready after 1 s"):
        slow.start()
    assert wait_dead(slow.pid)


def test_services_launched_together_are_waited_for_in_order_and_all_stopped_when_one_fails(tmp_path):
    """`ninety up` launches services that do not need each other side by side: both run
    before either is ready, and when one dies while starting the other is stopped too."""
    flag = tmp_path / "second-ran"
    first = Service(name="first", argv=[sys.executable, "-c", "import time; time.sleep(60)"], port=0,
                    ready=flag.exists, data_dir=tmp_path, ready_timeout=10)  # ready once the second ran
    second = Service(name="second", argv=[sys.executable, "-c", f"open({str(flag)!r}, 'w'); raise SystemExit(4)"],
                     port=0, ready=lambda: False, data_dir=tmp_path)
    sup = Supervisor(tmp_path)
    sup.launch(first)
    sup.launch(second)
    assert first.alive()
    with pytest.raises(ServiceError, match="second exited with code 4"):
        sup.wait_ready()  # the first is ready only because the second ran meanwhile
    assert first.alive(), "a failure leaves stopping to the caller (ninety up's finally)"
    sup.stop_all()
    assert wait_dead(first.pid)


def test_children_die_with_a_killed_parent(tmp_path):
    """SIGKILL gives the parent no chance to clean up: PR_SET_PDEATHSIG must."""
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from ninety.cli.services import anvil_service
        from ninety.cli.supervisor import Supervisor
        d = Path({str(tmp_path)!r})
        sup = Supervisor(d)
        a = sup.start(anvil_service(d, port=None))
        print(a.pid, flush=True)
        time.sleep(600)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    assert alive(child)
    parent.kill()
    parent.wait()
    assert wait_dead(child), "anvil outlived its SIGKILLed parent"


def test_leftover_from_a_crashed_run_is_stopped_by_its_pid_file(tmp_path):
    argv = [sys.executable, "-c", "import time; time.sleep(600)"]
    orphan = subprocess.Popen(argv, start_new_session=True)
    # Until the child has exec'd, its command line is still pytest's: wait for the real one.
    deadline = time.monotonic() + 10
    while Path(f"/proc/{orphan.pid}/cmdline").read_bytes().split(b"\0")[:-1] != [a.encode() for a in argv]:
        assert time.monotonic() < deadline, "the orphan never started"
        time.sleep(0.01)
    pid_file = tmp_path / "run" / "x.pid"
    pid_file.parent.mkdir(parents=True)
    pid_file.write_text(json.dumps({"pid": orphan.pid, "argv": argv}))
    stop_leftover(pid_file)
    orphan.wait(10)
    assert not pid_file.exists()


def test_a_recycled_pid_is_left_alone(tmp_path):
    innocent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        pid_file = tmp_path / "x.pid"
        pid_file.write_text(json.dumps({"pid": innocent.pid, "argv": ["anvil", "--port", "1"]}))
        stop_leftover(pid_file)
        assert innocent.poll() is None
    finally:
        innocent.kill()
        innocent.wait()


def test_sigterm_to_the_parent_stops_children_cleanly(tmp_path):
    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from ninety.cli.services import anvil_service
        from ninety.cli.supervisor import Supervisor
        d = Path({str(tmp_path)!r})
        Supervisor.install_signal_handlers()
        with Supervisor(d) as sup:
            a = sup.start(anvil_service(d, port=None))
            print(a.pid, flush=True)
            time.sleep(600)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    parent.send_signal(signal.SIGTERM)
    parent.wait(20)
    assert wait_dead(child)
    assert not (tmp_path / "run" / "anvil.pid").exists()


def test_one_up_per_data_dir_and_a_killed_holder_does_not_block_the_next(tmp_path):
    """`ninety up`'s data-dir lock: a second claim names the holder's PID; the kernel
    releases it when the holder dies, even by SIGKILL, leaving the stale file harmless."""
    from ninety.cli.supervisor import AlreadyRunningError, DataDirLock

    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from ninety.cli.supervisor import DataDirLock
        DataDirLock(Path({str(tmp_path)!r})).acquire()
        print("held", flush=True)
        time.sleep(600)
    """)
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(AlreadyRunningError, match=rf"already running on the data dir .* \(pid {holder.pid}\)"):
            DataDirLock(tmp_path).acquire()
    finally:
        holder.kill()
        holder.wait()
    with DataDirLock(tmp_path) as mine:
        assert json.loads(mine.path.read_text())["pid"] == os.getpid()


def test_reset_clears_the_data_dir_but_keeps_the_running_lock(tmp_path):
    from ninety.cli.supervisor import DataDirLock, clear_data_dir

    (tmp_path / "chain").mkdir()
    (tmp_path / "chain" / "state.json").write_text("{}")
    (tmp_path / "ledger.sqlite3").write_text("x")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "anvil.pid").write_text("{}")
    with DataDirLock(tmp_path) as lock:
        clear_data_dir(tmp_path, keep=lock.path)
        assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["run", "run/up.lock"]
        with pytest.raises(ServiceError, match="already running"):
            DataDirLock(tmp_path).acquire()


def test_startup_lines_say_what_each_service_is(tmp_path):
    with Supervisor(tmp_path) as sup:
        anvil = sup.start(anvil_service(tmp_path, port=None))
        assert anvil.started_line() == f"anvil (local chain) ready on {anvil.url} (pid {anvil.pid})"
        quiet = sup.start(Service(name="indexer", argv=[sys.executable, "-c", "import time; time.sleep(60)"],
                                  port=0, ready=lambda: True, data_dir=tmp_path))
        assert quiet.started_line() == f"indexer running (pid {quiet.pid})"


def test_a_probe_answered_by_another_process_on_the_port_is_not_ready(tmp_path):
    """A port picked free can be taken by another server before ours binds it: ours then
    exits (address in use) or never binds, while the other answers the readiness probe.
    Taking that answer for ours put two test suites on one chain; the supervisor now
    checks the port is held by the process it started (or its children)."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        # Our "server" never binds anything; the probe only sees that someone listens.
        service = Service(name="late", argv=[sys.executable, "-c", "import time; time.sleep(30)"], port=port,
                          ready=lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close() is None,
                          data_dir=tmp_path, ready_timeout=2)
        with Supervisor(tmp_path) as sup, pytest.raises(ServiceError, match="not ready"):
            sup.start(service)
        assert not service.alive()
    # The same service, holding its own port, is ready.
    own = free_port()
    server = Service(name="own", argv=[sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(own)], port=own,
                     ready=lambda: socket.create_connection(("127.0.0.1", own), timeout=1).close() is None,
                     data_dir=tmp_path, ready_timeout=20)
    with Supervisor(tmp_path) as sup:
        sup.start(server)
        assert server.alive()
