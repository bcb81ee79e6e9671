"""Start, watch and stop child processes for `ninety up` and the tests (the services
themselves are defined in ninety.cli.services). Every child:
- listens on 127.0.0.1 only, on the preferred port or, if that is taken, another free one;
- logs to `<data dir>/logs/<name>.log` and records its PID in `<data dir>/run/<name>.pid`;
- is started in its own session and with PR_SET_PDEATHSIG, so it dies with its parent even
  when the parent is SIGKILLed; PID files let the next run stop leftovers by PID.

`ninety up` holds `<data dir>/run/up.lock` (an flock, released by the kernel however the
process ends) while it runs: a second one on the same data dir is refused before it starts
anything, with the PID of the one already running.
"""
from __future__ import annotations

import ctypes
import fcntl
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import psutil

from ninety.errors import PortInUseError, ServiceError

log = logging.getLogger(__name__)

LOCALHOST = "127.0.0.1"
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # not Linux: PID files still let the next run clean up
        pass


def port_is_free(port: int, host: str = LOCALHOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # As the servers themselves do: a port held only by TIME_WAIT leftovers is free.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _holds_port(pid: int, port: int) -> bool:
    """Whether process `pid`, or one of its children, listens on `port`."""
    try:
        parent = psutil.Process(pid)
        for proc in (parent, *parent.children(recursive=True)):
            for conn in proc.connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                    return True
    except psutil.Error:
        return False
    return False


def free_port(preferred: int | None = None, *, strict: bool = False) -> int:
    """The preferred port if free; otherwise any free one (or, if `strict`, an error
    naming the port)."""
    if preferred and port_is_free(preferred):
        return preferred
    if preferred and strict:
        raise PortInUseError(f"port {preferred} on {LOCALHOST} is already in use")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOCALHOST, 0))
        return int(s.getsockname()[1])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still "exists"; treat it as dead.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return True


@dataclass
class Service:
    """One child process with a readiness probe."""

    name: str
    argv: list[str]
    port: int
    ready: Callable[[], bool]
    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    ready_timeout: float = 60.0
    url: str = ""
    process: subprocess.Popen[bytes] | None = None
    # What it is, for the startup line ("local chain", "API and web app").
    what: str = ""

    @property
    def log_path(self) -> Path:
        return self.data_dir / "logs" / f"{self.name}.log"

    @property
    def pid_path(self) -> Path:
        return self.data_dir / "run" / f"{self.name}.pid"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Start the process and wait until it is ready."""
        if self.alive():
            return
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        """Start the process without waiting for it (`wait_ready` then waits): services that
        do not need each other come up side by side."""
        if self.alive():
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.pid_path.parent.mkdir(parents=True, exist_ok=True)
        stop_leftover(self.pid_path)
        logfile = open(self.log_path, "ab")
        logfile.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(self.argv)}\n".encode())
        logfile.flush()
        try:
            self.process = subprocess.Popen(
                self.argv,
                stdout=logfile,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self.env},
                start_new_session=True,  # Ctrl-C reaches us; we stop children in order
                preexec_fn=_die_with_parent,
            )
        except FileNotFoundError as e:
            raise ServiceError(f"{self.name}: cannot run {self.argv[0]} ({e}); run `make` to install it") from e
        finally:
            logfile.close()
        self.pid_path.write_text(json.dumps({"pid": self.process.pid, "argv": self.argv}))

    def wait_ready(self) -> None:
        """Wait until the launched process is ready, then log its startup line."""
        self._wait_ready()
        log.info("%s", self.started_line())

    def started_line(self) -> str:
        """What it is, where and its PID: `anvil (local chain) ready on http://127.0.0.1:8545
        (pid 12)`; a service without a port of its own: `indexer running (pid 13)`."""
        name = f"{self.name} ({self.what})" if self.what else self.name
        pid = self.process.pid if self.process else "?"
        if self.url:
            return f"{name} ready on {self.url} (pid {pid})"
        if self.port:
            return f"{name} ready on port {self.port} (pid {pid})"
        return f"{name} running (pid {pid})"

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise ServiceError(
                    f"{self.name} exited with code {self.process.returncode} while starting; "
                    f"last lines of {self.log_path}:\n{self.log_tail()}"
                )
            try:
                # The probe must be answered by this process: a port found free can be taken
                # by another server before ours binds it (ours then exits, address in use),
                # and its answers would pass for ours: tests would share a chain unknowingly.
                if self.ready() and (not self.port or _holds_port(self.process.pid, self.port)):
                    return
            except Exception:  # the probe failing just means "not yet"
                pass
            time.sleep(0.1)
        self.stop()
        raise ServiceError(
            f"{self.name} was not ready after {self.ready_timeout:.0f} s; last lines of "
            f"{self.log_path}:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 8.0) -> None:
        """SIGTERM the child's process group, then SIGKILL what is left after `timeout`."""
        proc = self.process
        if proc is None:
            return
        deadline = time.monotonic() + timeout
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %.0f s; killing it", self.name, timeout)
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait(5)
        # The group may hold helpers that outlived the leader (a launcher script that exits
        # at once while the program it started still saves its state): give them the rest
        # of the time to finish, and only then kill what is left.
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        _signal_group(proc.pid, signal.SIGKILL)
        self.pid_path.unlink(missing_ok=True)

    def restart(self) -> None:
        self.stop()
        self.process = None
        self.start()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    # Zombies count as members until reaped; only a running member matters here.
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def stop_leftover(pid_path: Path) -> None:
    """Stop a service a previous, crashed run left behind, by the PID it recorded.

    Only a process whose command line still matches the recorded one is touched, so a
    recycled PID belonging to something else is left alone."""
    try:
        record = json.loads(pid_path.read_text())
        pid, argv = int(record["pid"]), list(record["argv"])
    except (OSError, ValueError, KeyError, TypeError):
        return
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
    except OSError:
        cmdline = []
    if _pid_alive(pid) and [c.decode(errors="replace") for c in cmdline] == argv:
        log.warning("stopping leftover %s (pid %s) from an earlier run", pid_path.stem, pid)
        _signal_group(pid, signal.SIGTERM)
        for _ in range(50):
            if not _pid_alive(pid):
                break
            time.sleep(0.1)
        _signal_group(pid, signal.SIGKILL)
    pid_path.unlink(missing_ok=True)

class AlreadyRunningError(ServiceError):
    """Another `ninety up` is running on this data dir."""


class DataDirLock:
    """`ninety up`'s claim on its data dir: an exclusive flock on `<data dir>/run/up.lock`
    holding the owner's PID. The kernel releases it when the process ends, however it ends,
    so a crashed run never blocks the next one."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / "run" / "up.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise AlreadyRunningError naming the PID that holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid = self.holder()
            raise AlreadyRunningError(
                f"ninety up is already running on the data dir {self.data_dir} "
                f"({f'pid {pid}' if pid else 'pid unknown'}); stop it first (Ctrl-C in its terminal"
                f"{f', or kill {pid}' if pid else ''}), or give this one another NINETY_DATA_DIR"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "started": time.time()}).encode(), 0)
        self._fd = fd

    def holder(self) -> int | None:
        try:
            return int(json.loads(self.path.read_text())["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "DataDirLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def clear_data_dir(data_dir: Path, keep: Path) -> None:
    """Delete everything in `data_dir` but the file `keep` (the lock of the run doing it)."""
    keep = keep.resolve()
    for entry in list(data_dir.iterdir()):
        path = entry.resolve()
        if path == keep:
            continue
        if entry.is_dir() and not entry.is_symlink():
            if keep.is_relative_to(path):
                clear_data_dir(entry, keep)
            else:
                shutil.rmtree(entry)
        else:
            entry.unlink()


class Supervisor:
    """Starts services in order and stops them in reverse, also on errors (a context
    manager) and on SIGTERM/SIGHUP (turned into SystemExit by `install_signal_handlers`)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.services: list[Service] = []
        self._launched: list[Service] = []  # launched, not yet waited for

    def start(self, service: Service) -> Service:
        service.start()
        self.services.append(service)
        return service

    def launch(self, service: Service) -> Service:
        """Start `service` without waiting for it; `wait_ready` waits for every service
        launched so far. Services that do not need each other come up side by side; each
        is stopped with the others from the moment it is launched."""
        service.launch()
        self.services.append(service)
        self._launched.append(service)
        return service

    def wait_ready(self) -> None:
        """Wait for each launched service in turn (startup lines in launch order)."""
        while self._launched:
            self._launched[0].wait_ready()
            self._launched.pop(0)

    def stop_all(self) -> None:
        self._launched.clear()
        for service in reversed(self.services):
            try:
                service.stop()
            except Exception:  # keep stopping the others
                log.exception("stopping %s failed", service.name)
        self.services.clear()

    def __enter__(self) -> "Supervisor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()

    @staticmethod
    def install_signal_handlers() -> None:
        """SIGTERM and SIGHUP unwind the stack like Ctrl-C does, so `finally` blocks run."""

        def _exit(signum: int, _frame: object) -> None:
            raise SystemExit(128 + signum)

        signal.signal(signal.SIGTERM, _exit)
        signal.signal(signal.SIGHUP, _exit)
