"""Judging against an epoch's committed pool rules without making a request wait on
IPFS: `judged` runs a judgement once the rules are read (backend.epochs.rules_for), or
says why it cannot be done now; `standing_or_why` is a wallet's standing that way.

Used by the free downloads and the Pools page (backend/api/)."""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Callable, TypeVar

from backend import epochs
from backend.services import Services
from ninety.errors import NinetyError

log = logging.getLogger(__name__)
T_ = TypeVar("T_")

# Reading an epoch's committed rules means fetching them from IPFS once (then they are
# cached): a request waits for that at most RULES_WAIT_SECONDS, while the fetch goes on in
# the background, and a failed fetch (IPFS down, a CID nobody serves) is remembered for
# RULES_RETRY_SECONDS, so requests meanwhile answer at once instead of each tying up a
# worker for the IPFS timeout.
RULES_WAIT_SECONDS = 5.0
RULES_RETRY_SECONDS = 30.0
_unreadable: dict[tuple[str, int], tuple[float, Exception]] = {}
_fetching: dict[tuple[str, int], Future[Any]] = {}
_slow: set[tuple[str, int]] = set()  # fetches a request already waited for in vain
_rules_lock = threading.Lock()
_rules_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="pool-rules")


class RulesUnreadable(Exception):
    def __init__(self, reason: str, committed: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.committed = committed  # false: no rules are committed for the epoch (nothing counts)


def _remember(key: tuple[str, int], error: Exception) -> None:
    with _rules_lock:
        if len(_unreadable) > 1024:
            _unreadable.clear()
        _unreadable[key] = (time.monotonic() + RULES_RETRY_SECONDS, error)


def _unreadable_because(error: Exception, epoch: int) -> RulesUnreadable:
    if isinstance(error, LookupError):  # e.g. no rules committed for the epoch: nothing can count
        return RulesUnreadable(f"{error}: nothing counts in epoch {epoch}", committed=False)
    return RulesUnreadable("whether it counts cannot be judged right now (the epoch's pool rules cannot be read); "
                           "try again later", committed=True)


def judged(services: Services, epoch: int, judge: Callable[[], T_]) -> T_:
    """`judge()` (something that reads the epoch's committed rules), or RulesUnreadable
    saying why it cannot be done now (see RULES_WAIT_SECONDS)."""
    key = (str(getattr(services.deployment, "address", "")).lower(), epoch)
    with _rules_lock:
        failed = _unreadable.get(key)
        if failed is not None and time.monotonic() >= failed[0]:
            failed = None
            del _unreadable[key]
        fetch = None if failed is not None else _fetching.get(key)
        if failed is None and fetch is None:
            fetch = _fetching[key] = _rules_pool.submit(epochs.rules_for, services, epoch)
    if failed is not None:
        raise _unreadable_because(failed[1], epoch)
    assert fetch is not None
    try:
        # Once a request has waited in vain, the others do not wait for the same fetch.
        fetch.result(timeout=0 if key in _slow else RULES_WAIT_SECONDS)
        with _rules_lock:
            _fetching.pop(key, None)
        return judge()
    except FutureTimeout:
        if key not in _slow:
            log.warning("epoch %d's pool rules are still being fetched after %.0f s", epoch, RULES_WAIT_SECONDS)
            _slow.add(key)
            fetch.add_done_callback(lambda _: _slow.discard(key))
        raise _unreadable_because(TimeoutError(), epoch) from None
    except (LookupError, ValueError, NinetyError) as e:
        if not isinstance(e, LookupError):
            log.warning("cannot read epoch %d's pool rules: %s", epoch, e)
        with _rules_lock:
            _fetching.pop(key, None)
        _remember(key, e)
        raise _unreadable_because(e, epoch) from None


def standing_or_why(db: Any, services: Services, epoch: int, wallet: str, *, amounts: bool = True) -> dict[str, Any]:
    """backend.epochs.standing, or, when the epoch's rules cannot be read (none committed,
    not Ninety rules, IPFS or the chain unavailable), a standing that does not qualify and
    says why (`free_downloads` None)."""
    try:
        return judged(services, epoch, lambda: epochs.standing(db, services, epoch, wallet, amounts=amounts))
    except RulesUnreadable as e:
        return {"qualifies": False, "reason": e.reason, "can_direct": [], "free_downloads": None}
