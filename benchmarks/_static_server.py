"""A minimal keep-alive HTTP/1.1 server answering ``200 ok`` to every request.

Run as a separate process (``python benchmarks/_static_server.py``) so the server
shares no GIL with the client being measured. It prints its port on stdout and
exits when its stdin closes. Requests are assumed to have no body (GETs); the
response never depends on them, so both sides of a comparison get the same one.
"""

from __future__ import annotations

import asyncio
import sys
import threading

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
END = b"\r\n\r\n"


class _Protocol(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._buffer = b""

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        count = self._buffer.count(END)
        if count:
            self._buffer = self._buffer[self._buffer.rfind(END) + len(END) :]
            self._transport.write(RESPONSE * count)


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Protocol, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    done = asyncio.Event()

    def wait_for_eof() -> None:
        sys.stdin.read()
        loop.call_soon_threadsafe(done.set)

    threading.Thread(target=wait_for_eof, daemon=True).start()
    async with server:
        await done.wait()


if __name__ == "__main__":
    asyncio.run(_serve())
