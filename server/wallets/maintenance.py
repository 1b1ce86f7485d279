"""The wallet store's periodic job, on a thread of its own.

:meth:`WalletStore.housekeeping` releases holds past their deadline, reconciles budget
reservations (Cluster) and removes authorisation records past their retention.  A service
starts one :class:`Maintenance` beside its store and stops it on shutdown; one per
deployment is enough (several are safe: every step is idempotent, only wasteful).  A
server whose store changes with the active programme passes a callable that returns the
store of the moment (``None`` while no programme is active: the round is skipped).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from tessera.engine.errors import TesseraError

from .store import WalletStore

log = logging.getLogger("tessera.wallets.maintenance")


class Maintenance:
    """Run ``store.housekeeping(now)`` every ``interval`` seconds until :meth:`stop`."""

    def __init__(
        self,
        store: WalletStore | Callable[[], WalletStore | None],
        interval: float = 300.0,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.interval = interval
        self.clock = clock
        self.runs = 0
        self.last: dict[str, Any] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> dict[str, Any] | None:
        """One round of housekeeping now; what it did (``None``: no store to keep)."""
        store = self.store if isinstance(self.store, WalletStore) else self.store()
        if store is None:
            return None
        self.last = store.housekeeping(int(self.clock()))
        self.runs += 1
        return self.last

    def start(self) -> Maintenance:
        self._thread = threading.Thread(target=self._loop, name="wallet-maintenance", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except TesseraError:  # the store was unreachable: try again next round
                log.exception("wallet housekeeping failed")
            except Exception:  # a defect must not end the job for the process's lifetime
                log.exception("wallet housekeeping failed unexpectedly")
            self._stop.wait(self.interval)
