"""What the machine's idle CPUs do during a run, and a way to keep them awake.

On a VM whose idle vCPUs halt (the guest's cpuidle driver sends them to the host), every
wait for another process (Redis's answer, a gRPC thread's wake-up) pays for the halted
vCPU to be scheduled again: tens of microseconds each.  The floors the targets are ratios
to are made mostly of such waits, so their figures move with the machine's idleness, not
with Tessera: on one day, the wallet suite's authorise over the bare EVALSHA read 1.85
with idle vCPUs halting and 4.0 with them polling (docs/benchmarks.md, "Idle CPUs and the
floors").

:func:`poll_idle` holds a PM QoS request of zero latency (``/dev/cpu_dma_latency``, as
tuned's ``latency-performance`` profile does) for as long as a run lasts, so that idle
CPUs poll instead of halting; ``tessera bench --poll-idle`` runs under it.  Writing it
takes root, and an idle CPU then burns its core (the host's, on a VM) until the run ends.
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Iterator

QOS_DEVICE = "/dev/cpu_dma_latency"
CPUIDLE = "/sys/devices/system/cpu/cpuidle"


class IdlePollUnavailable(RuntimeError):
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
def poll_idle(device: str = QOS_DEVICE) -> Iterator[None]:
    """Within the block, idle CPUs poll instead of sleeping (a zero-latency PM QoS
    request, which the kernel keeps while the file stays open)."""
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
