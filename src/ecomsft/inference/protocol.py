"""uvicorn's HTTP/1.1 protocol with the two guards it lacks against slow or many clients.

uvicorn times out only idle keep-alive connections: a client that sends half its headers, or a
body shorter than its Content-Length, holds a connection (and, for a body, a request task) for as
long as it likes, and nothing caps the number of connections. This subclass (written here because
uvicorn offers neither setting) gives each request ``read_timeout_s`` to arrive whole, headers and
body, and answers a connection beyond ``max_connections`` at once; both answers are the server's
one error shape, ``{"error": ...}``, and close the connection.
"""

from __future__ import annotations

import asyncio
import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

# Set from the serve settings (``configure``) in each server process before it accepts connections.
LIMITS = {"read_timeout_s": 15.0, "max_connections": 256}


def configure(read_timeout_s: float, max_connections: int) -> None:
    LIMITS.update(read_timeout_s=float(read_timeout_s), max_connections=int(max_connections))


def _raw_error(status: int, reason: str, message: str) -> bytes:
    body = json.dumps({"error": message}).encode()
    return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\nconnection: close\r\n"
            f"content-length: {len(body)}\r\n\r\n").encode() + body


class GuardedH11Protocol(H11Protocol):
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > LIMITS["max_connections"]:
            transport.write(_raw_error(503, "Service Unavailable", f"too many connections (max_connections "
                                                                   f"{LIMITS['max_connections']}); retry later"))
            transport.close()
            return
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.DONE:  # the request arrived whole: the handler's time is its own
            self._disarm()
        else:
            self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._disarm()  # the next request of a kept-alive connection: uvicorn's keep-alive timeout first

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(LIMITS["read_timeout_s"], self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is None or not self.cycle.response_started:
            self.transport.write(_raw_error(408, "Request Timeout", f"the request did not arrive whole within "
                                                                    f"{LIMITS['read_timeout_s']:g} s"))
        if self.cycle is not None:
            self.cycle.disconnected = True  # the handler's next receive() says the client left
            self.cycle.message_event.set()
        self.transport.close()
