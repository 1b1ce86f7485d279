"""Idle CPUs that poll instead of halting, for as long as a process asks.

On a VM whose idle vCPUs halt (the guest's cpuidle driver hands them back to the host),
every wait for another process (Redis's answer, a gRPC thread's wake-up) pays for the
halted vCPU to be run again: tens of microseconds each, on every call.  :func:`poll_idle`
holds a PM QoS request of zero latency (``/dev/cpu_dma_latency``, as tuned's
``latency-performance`` profile does) so that idle CPUs poll instead; the kernel drops it
when the last process holding the file exits.  The price: an idle CPU burns its core (the
host's, on a VM) while the request stands, so it is for machines that serve Tessera alone.

``tessera serve --poll-idle`` serves under it (on this machine an Authorize's p50 went
from 1.39 to 0.94-1.03 ms, an empty call's from 0.61 to 0.35 ms), and ``tessera bench
--poll-idle`` measures under it: the floors the targets are ratios to are made mostly of
such waits, so without it their figures move with the machine's idleness
(docs/benchmarks.md, "Idle CPUs and the floors").
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Iterator

from tessera.engine.errors import TesseraError

QOS_DEVICE = "/dev/cpu_dma_latency"
CPUIDLE = "/sys/devices/system/cpu/cpuidle"


class IdlePollUnavailable(TesseraError):
    """The zero-latency request could not be made (no device, or not root)."""


def idle_state() -> str:
    """How idle CPUs wait here, for the report: the cpuidle driver and governor."""
    found = []
    for name in ("current_driver", "current_governor"):
        try:
            with open(os.path.join(CPUIDLE, name), encoding="utf-8") as handle:
                found.append(handle.read().strip())
        except OSError:
            found.append("?")
    return f"cpuidle driver {found[0]}, governor {found[1]}"


@contextlib.contextmanager
def poll_idle(device: str | None = None) -> Iterator[None]:
    """Within the block, idle CPUs poll instead of sleeping (a zero-latency PM QoS
    request on ``device``, :data:`QOS_DEVICE` by default, kept while the file is open)."""
    device = device or QOS_DEVICE
    try:
        fd = os.open(device, os.O_WRONLY)
    except OSError as exc:
        raise IdlePollUnavailable(
            f"cannot keep idle CPUs polling: {device}: {exc.strerror} (Linux, as root)"
        ) from None
    try:
        os.write(fd, struct.pack("i", 0))
        yield
    finally:
        os.close(fd)
