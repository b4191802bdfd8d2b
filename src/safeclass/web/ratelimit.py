"""Sign-in rate limiting, in memory: per client address and per account email.

Each key (an address or an email) keeps the times of its recent failed sign-ins. When a key
reaches its limit inside the window it is locked for a while, even for the right password, so
guessing is slow whichever way an attacker spreads the attempts. Unknown emails are counted
exactly like real ones, so the answers never tell which accounts exist.

Memory is bounded: keys idle for longer than the window and the lock are pruned, and past
`max_keys` the least recently used key is dropped.
"""

from __future__ import annotations

import enum
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

Clock = Callable[[], float]

FIFTEEN_MINUTES = 15 * 60


class LimitScope(enum.StrEnum):
    ADDRESS = "address"
    ACCOUNT = "account"


@dataclass
class _KeyState:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0
    last_update: float = 0.0


@dataclass(frozen=True)
class Limit:
    max_failures: int
    window_seconds: float
    lock_seconds: float


class FailureTracker:
    """Failures per key for one scope (sign-in, and the typed-code door). Not thread-safe on its
    own: its user holds a lock."""

    def __init__(self, limit: Limit, max_keys: int) -> None:
        self.limit = limit
        self.max_keys = max_keys
        self._keys: OrderedDict[str, _KeyState] = OrderedDict()

    def __len__(self) -> int:
        return len(self._keys)

    def retry_after(self, key: str, now: float) -> float:
        state = self._keys.get(key)
        if state is None or state.locked_until <= now:
            return 0.0
        return state.locked_until - now

    def record_failure(self, key: str, now: float) -> bool:
        """Count one failure. True when this failure starts a lock."""
        state = self._keys.pop(key, None) or _KeyState()
        self._keys[key] = state  # most recently used goes last
        state.last_update = now
        while state.failures and state.failures[0] <= now - self.limit.window_seconds:
            state.failures.popleft()
        state.failures.append(now)
        starts_lock = False
        if len(state.failures) >= self.limit.max_failures and state.locked_until <= now:
            state.locked_until = now + self.limit.lock_seconds
            state.failures.clear()
            starts_lock = True
        self._prune(now)
        return starts_lock

    def clear(self, key: str) -> None:
        self._keys.pop(key, None)

    def _prune(self, now: float) -> None:
        idle_after = max(self.limit.window_seconds, self.limit.lock_seconds)
        while self._keys:
            oldest_key, oldest = next(iter(self._keys.items()))
            stale = oldest.last_update <= now - idle_after
            over_cap = len(self._keys) > self.max_keys
            if not (stale or over_cap):
                break
            del self._keys[oldest_key]


@dataclass(frozen=True)
class RateLimitDecision:
    retry_after_seconds: int
    scope: LimitScope | None

    @property
    def allowed(self) -> bool:
        return self.scope is None


class SignInRateLimiter:
    def __init__(
        self,
        *,
        clock: Clock = time.monotonic,
        per_address: Limit = Limit(20, FIFTEEN_MINUTES, FIFTEEN_MINUTES),
        per_account: Limit = Limit(5, FIFTEEN_MINUTES, FIFTEEN_MINUTES),
        max_keys: int = 10_000,
    ) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._trackers = {
            LimitScope.ADDRESS: FailureTracker(per_address, max_keys),
            LimitScope.ACCOUNT: FailureTracker(per_account, max_keys),
        }

    def check(self, *, address: str, account: str) -> RateLimitDecision:
        """Whether a sign-in may be tried now. Checked before the password is looked at."""
        with self._lock:
            now = self.clock()
            waits = {
                LimitScope.ADDRESS: self._trackers[LimitScope.ADDRESS].retry_after(address, now),
                LimitScope.ACCOUNT: self._trackers[LimitScope.ACCOUNT].retry_after(account, now),
            }
        scope, wait = max(waits.items(), key=lambda item: item[1])
        if wait <= 0:
            return RateLimitDecision(0, None)
        return RateLimitDecision(max(1, math.ceil(wait)), scope)

    def record_failure(self, *, address: str, account: str) -> list[LimitScope]:
        """Count a failed sign-in. Returns the scopes that became locked because of it."""
        with self._lock:
            now = self.clock()
            return [
                scope
                for scope, key in ((LimitScope.ADDRESS, address), (LimitScope.ACCOUNT, account))
                if self._trackers[scope].record_failure(key, now)
            ]

    def record_success(self, *, account: str) -> None:
        with self._lock:
            self._trackers[LimitScope.ACCOUNT].clear(account)

    def tracked_keys(self, scope: LimitScope) -> int:
        with self._lock:
            return len(self._trackers[scope])
