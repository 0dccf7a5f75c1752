"""What systemd would read from $NOTIFY_SOCKET, for the daemon and watchdog tests."""

from __future__ import annotations

import socket
import threading
from pathlib import Path


class NotifySocket:
    """Every datagram, as it comes (a unix datagram queue holds only a few, so the daemon's
    messages would be dropped if nobody read them)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.seen: list[str] = []
        self.changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                fields = self.sock.recv(4096).decode().split("\n")
            except OSError:  # closed by the test
                return
            with self.changed:
                self.seen += fields
                self.changed.notify_all()

    def count(self, field: str) -> int:
        with self.changed:
            return self.seen.count(field)

    def wait_for(self, field: str, timeout: float = 30, times: int = 1) -> None:
        with self.changed:
            ok = self.changed.wait_for(lambda: self.seen.count(field) >= times, timeout)
            seen = list(self.seen)
        assert ok, f"{field!r} not notified {times} time(s) within {timeout:g}s; received: {seen}"

    def close(self) -> None:
        self.sock.close()
