"""Incremental Content-Encoding decoding bounded by the size of what it produces.

The HTTP client is told not to decompress (aiohttp's `auto_decompress=False`) so that
`max_size` bounds the *decoded* body while it inflates: a 10 kB gzip bomb stops at the limit
instead of at 10 GB.
"""

from __future__ import annotations

import zlib

import brotli

#: What a decoder may raise on a corrupt body (besides ValueError for an unknown encoding).
DECODE_ERRORS: tuple[type[Exception], ...] = (zlib.error, brotli.error, ValueError)


class TooLarge(Exception):
    """The decoded body would exceed its limit."""


class BodyDecoder:
    """Incremental Content-Encoding decoder that never produces more than `limit` bytes."""

    def __init__(self, encoding: str, limit: int) -> None:
        self.encoding = encoding
        self.limit = limit
        self.size = 0
        self.parts: list[bytes] = []
        if encoding in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._z = zlib.decompressobj()
            self._first = True
        elif encoding == "br":
            self._br = brotli.Decompressor()
        elif encoding not in ("", "identity"):
            raise ValueError(f"unsupported Content-Encoding {encoding!r}")

    def _keep(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.limit:
            raise TooLarge
        if data:
            self.parts.append(data)

    def feed(self, data: bytes) -> None:
        if self.encoding in ("", "identity"):
            self._keep(data)
        elif self.encoding == "br":
            self._keep(self._br.process(data, output_buffer_limit=self.limit - self.size + 1))
            while not self._br.can_accept_more_data():
                self._keep(self._br.process(b"", output_buffer_limit=self.limit - self.size + 1))
        else:
            self._feed_zlib(data)

    def _feed_zlib(self, data: bytes) -> None:
        if self.encoding == "deflate" and self._first and data:
            self._first = False
            try:  # RFC 9110 says zlib-wrapped, but some servers send raw deflate
                probe = zlib.decompressobj()
                probe.decompress(data[:64])
            except zlib.error:
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
        while data:
            self._keep(self._z.decompress(data, self.limit - self.size + 1))
            data = self._z.unconsumed_tail

    def body(self) -> bytes:
        return b"".join(self.parts)
