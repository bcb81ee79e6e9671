"""Process checks shared by the tests: is a PID alive (zombies count as dead)?"""
from __future__ import annotations

import os
import time
from pathlib import Path


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ", 1)[1][0] != "Z"


def wait_dead(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return False


def like_a_terminal() -> None:
    """Popen preexec_fn for a child the test will Ctrl-C (SIGINT): a shell that started
    the test run in the background made SIGINT ignored, and an ignored signal is inherited
    across exec, so Python would never raise KeyboardInterrupt. A terminal's Ctrl-C
    reaches a program with SIGINT at its default; give the child that."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
