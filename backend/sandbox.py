"""Media decoding in a child process with hard limits, a few at a time.

Decoders (libsndfile with libFLAC, libvorbis and mpg123; Pillow's codecs) are C code fed
attacker bytes. Each decode runs in a fresh Python child that first caps its own address
space (RLIMIT_AS), CPU time (RLIMIT_CPU) and output file size (RLIMIT_FSIZE), and is
killed past a wall-clock limit. The jobs stream in small blocks, so an honest file needs
little memory anyway; the limits turn a bomb or a decoder bug into a refused upload
instead of a server that swaps, stalls or crashes.

At most `NINETY_MAX_DECODES` jobs run at once per API process; a caller waits up to
`NINETY_DECODE_WAIT` seconds for a slot, then is told to retry (HTTP 429).
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

from ninety.paths import ROOT

log = logging.getLogger(__name__)

MEMORY_LIMIT = 768 * 1024 * 1024  # address space, not resident memory: libraries map a lot
CPU_SECONDS = 120
WALL_SECONDS = 180.0
OUTPUT_LIMIT = 512 * 1024 * 1024  # largest file a job may write

# The child sets its limits before importing anything heavy, then runs one job: keyword
# arguments as JSON on stdin, the result as JSON on stdout. First it asks the kernel to
# kill it when its parent dies (PR_SET_PDEATHSIG): the wall-clock limit is the parent's
# `timeout`, so a child orphaned by a killed API would otherwise run on for its whole CPU
# limit, reading decrypted files. (The signal comes when the parent *thread* ends; the
# thread that started the child waits for it, so it cannot end first.) If the parent is
# already gone by then, the child stops.
_BOOT = """
import json, os, resource, sys
if sys.platform.startswith("linux"):
    import ctypes, signal
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    if os.getppid() != int(sys.argv[6]):
        os._exit(70)
mem, cpu, fsize = (int(a) for a in sys.argv[1:4])
resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
sys.path.insert(0, sys.argv[5])
module, name = sys.argv[4].split(":")
import importlib
from backend.sandbox import Refused
job = getattr(importlib.import_module(module), name)
try:
    out = {"result": job(**json.loads(sys.stdin.read()))}
except Refused as e:
    out = {"refused": str(e)}
except MemoryError:
    out = {"limit": "memory"}
sys.stdout.write(json.dumps(out))
"""


class Refused(ValueError):
    """The input is not acceptable; the message is safe to show the uploader."""


class LimitExceeded(Refused):
    """The decode hit the sandbox's memory, CPU or time limit (or crashed)."""


class Busy(Exception):
    """Every decode slot stayed taken for the whole wait."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the server is decoding other uploads; retry in {retry_after} s")
        self.retry_after = retry_after


_slots_lock = threading.Lock()
_slots: dict[int, threading.BoundedSemaphore] = {}


def _semaphore(n: int) -> threading.BoundedSemaphore:
    with _slots_lock:
        if n not in _slots:
            _slots[n] = threading.BoundedSemaphore(n)
        return _slots[n]


@contextmanager
def decode_slot(max_decodes: int, wait: float) -> Iterator[None]:
    """Hold one of this process's `max_decodes` slots; Busy after `wait` seconds."""
    sem = _semaphore(max(1, max_decodes))
    if not sem.acquire(timeout=max(0.0, wait)):
        raise Busy(retry_after=max(1, min(60, round(wait) or 5)))
    try:
        yield
    finally:
        sem.release()


def run(job: str, *, memory: int = MEMORY_LIMIT, cpu: int = CPU_SECONDS, wall: float = WALL_SECONDS,
        output: int = OUTPUT_LIMIT, **kwargs: Any) -> Any:
    """Run `module:function(**kwargs)` in a limited child and return what it returned.
    Refused carries the job's own message; LimitExceeded a limit or a crash."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
           # One thread and few malloc arenas: each would reserve address space.
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2"}
    argv = [sys.executable, "-I", "-c", _BOOT, str(memory), str(cpu), str(output), job, str(ROOT), str(os.getpid())]
    started = time.monotonic()
    try:
        done = subprocess.run(argv, input=json.dumps(kwargs), capture_output=True, text=True, env=env,
                              timeout=wall, cwd=ROOT)
    except subprocess.TimeoutExpired:
        log.warning("media job %s killed after %.0f s", job, wall)
        raise LimitExceeded(f"decoding took longer than {wall:.0f} s") from None
    elapsed = time.monotonic() - started
    try:
        out = json.loads(done.stdout) if done.returncode == 0 else None
    except ValueError:
        out = None
    if not isinstance(out, dict):
        log.warning("media job %s failed (exit %s after %.1f s): %s", job, done.returncode, elapsed,
                    done.stderr.strip()[-2000:])
        raise LimitExceeded("the file could not be decoded within the server's limits")
    if "refused" in out:
        raise Refused(out["refused"])
    if "limit" in out:
        raise LimitExceeded("the file could not be decoded within the server's memory limit")
    log.debug("media job %s took %.2f s", job, elapsed)
    return out["result"]
