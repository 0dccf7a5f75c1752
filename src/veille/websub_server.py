"""The daemon's small HTTP server for WebSub hubs: one request per connection, bounded in
size and time, answered by a handler the agent provides (websub_agent.py).

HTTP parsing is h11's (already installed with httpx), so chunked bodies and malformed
requests are handled by a maintained parser rather than by hand. It is meant to sit behind
the user's reverse proxy (TLS there), on a loopback address.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import h11

log = logging.getLogger("veille")

#: A hub that opens a connection and sends nothing holds it at most this long.
REQUEST_TIMEOUT = 30.0
MAX_HEAD = 16 * 1024
#: After refusing a request mid-body: how long, and how much, we read and drop (see _linger).
LINGER = 2.0
LINGER_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class HttpRequest:
    method: str
    target: str  # path and query, as sent
    headers: dict[str, str]  # names lower-cased
    body: bytes = b""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]


class PushServer:
    def __init__(self, host: str, port: int, handler: Handler, max_size: int) -> None:
        self.host = host
        self.port = port
        self.handler = handler
        self.max_size = max_size
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        """Listen; returns the port (the one the kernel chose when configured as 0)."""
        self._server = await asyncio.start_server(self._connection, self.host, self.port)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.gather(*self._connections, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                response = await self._read(conn, reader)
                if response is None:
                    return
            await self._send(conn, writer, response)
            if conn.their_state is not h11.DONE:
                await _linger(reader, writer)
        except (TimeoutError, ConnectionError, h11.ProtocolError) as e:
            log.debug("websub: connection dropped: %s", e or type(e).__name__)
        except Exception:  # a bug costs one request, never the server
            log.exception("websub: request failed")
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _read(self, conn: h11.Connection, reader: asyncio.StreamReader
                    ) -> HttpResponse | None:
        """The handler's answer, 413 for a body over max_size, 400 for a broken request."""
        head: h11.Request | None = None
        body = bytearray()
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError:
                return HttpResponse(400, b"bad request\n")
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                conn.receive_data(data)
                if not data and conn.their_state is not h11.DONE:
                    return None  # the client went away
            elif isinstance(event, h11.Request):
                head = event
                length = dict(event.headers).get(b"content-length")
                if length is not None and length.isdigit() and int(length) > self.max_size:
                    return _too_large(self.max_size)
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > self.max_size:
                    return _too_large(self.max_size)
            elif isinstance(event, h11.EndOfMessage) and head is not None:
                headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                           for k, v in head.headers}
                request = HttpRequest(head.method.decode("ascii"),
                                      head.target.decode("latin-1"), headers, bytes(body))
                return await self.handler(request)
            elif isinstance(event, h11.ConnectionClosed):
                return None

    async def _send(self, conn: h11.Connection, writer: asyncio.StreamWriter,
                    response: HttpResponse) -> None:
        if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return  # h11 answers a broken or cut request from these states only
        headers = [("content-length", str(len(response.body))), ("connection", "close"),
                   ("content-type", "text/plain; charset=utf-8"), *response.headers.items()]
        writer.write(conn.send(h11.Response(status_code=response.status, headers=headers)) or b"")
        writer.write(conn.send(h11.Data(data=response.body)) or b"")
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await writer.drain()


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read and drop what the client still sends (a refused body) for a moment: closing a
    socket with unread data makes the kernel reset the connection, and the client may then
    lose our answer (the 413) before reading it."""
    with contextlib.suppress(Exception):
        if writer.can_write_eof():
            writer.write_eof()
        async with asyncio.timeout(LINGER):
            drained = 0
            while drained < LINGER_BYTES and (data := await reader.read(65536)):
                drained += len(data)


def _too_large(limit: int) -> HttpResponse:
    log.warning("websub: push refused, body over max_size (%d bytes)", limit)
    return HttpResponse(413, f"body larger than {limit} bytes\n".encode())

