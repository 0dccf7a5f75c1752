"""sd_notify(3) without libsystemd: one datagram per state change to $NOTIFY_SOCKET.

Without NOTIFY_SOCKET (not under systemd, or Type= is not notify) nothing is sent.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Mapping


class Notifier:
    def __init__(self, address: str | None) -> None:
        self.address = address
        self._socket: socket.socket | None = None
        if address:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._socket.setblocking(False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Notifier:
        return cls(env.get("NOTIFY_SOCKET") or None)

    def send(self, *fields: str) -> None:
        """e.g. send("READY=1", "STATUS=polling 124 feeds"). Errors are ignored: telling
        systemd about our state must never bring the service down."""
        if self._socket is None or self.address is None:
            return
        address = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        with contextlib.suppress(OSError):
            self._socket.sendto("\n".join(fields).encode(), address)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def watchdog_interval(env: Mapping[str, str]) -> float | None:
    """Half of WatchdogSec= (systemd passes it as $WATCHDOG_USEC), as sd_watchdog_enabled says."""
    usec = env.get("WATCHDOG_USEC")
    if not usec or not usec.isdigit() or int(usec) == 0:
        return None
    return int(usec) / 2 / 1_000_000
