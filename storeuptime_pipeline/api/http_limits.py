"""uvicorn settings that keep slow or idle clients from holding the API's connections forever.

uvicorn (0.54) has no header-read timeout: its keep-alive timer starts only after a response and is
cancelled by the next byte received, and nothing is armed when a connection opens. A client that
connects and sends nothing, or half a request line, holds its socket (and a slot of
``limit_concurrency``) for good. :func:`protocol_class` adds that timeout to uvicorn's own HTTP
protocol: the headers of each request must be complete within ``header_timeout`` seconds of the
connection opening, or of the previous response plus the keep-alive time; otherwise the
connection is closed. ``limit_concurrency`` bounds what is left (answered 503 above it).
"""

from __future__ import annotations

import asyncio
from typing import Any

from storeuptime_pipeline import settings

try:  # uvicorn's "auto" choice: httptools when installed, else h11
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _BaseProtocol
except ImportError:  # pragma: no cover - httptools comes with uvicorn[standard] (dagster-webserver)
    from uvicorn.protocols.http.h11_impl import H11Protocol as _BaseProtocol  # type: ignore[assignment]


class _HeaderTimeoutProtocol(_BaseProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's protocol plus a deadline for the next request's headers."""

    header_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None
        self._waiting_after: object = None

    def _arm_header_deadline(self, delay: float) -> None:
        self._disarm_header_deadline()
        # A new request replaces self.cycle: if it is still the one seen here when the timer fires,
        # no request's headers arrived in time.
        self._waiting_after = self.cycle
        self._header_deadline = self.loop.call_later(delay, self._header_deadline_passed)

    def _disarm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _header_deadline_passed(self) -> None:
        self._header_deadline = None
        if self.cycle is self._waiting_after and not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline(self.header_timeout)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_header_deadline(self.timeout_keep_alive + self.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)


def protocol_class(header_timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol closing connections whose request headers take over ``header_timeout`` s."""
    return type("HeaderTimeoutProtocol", (_HeaderTimeoutProtocol,), {"header_timeout": float(header_timeout)})


def uvicorn_options(
    header_timeout: float | None = None, max_connections: int | None = None
) -> dict[str, Any]:
    """The keyword arguments of ``uvicorn.Config`` / ``uvicorn.run`` for these limits (settings by default)."""
    timeout = settings.api_header_timeout_seconds() if header_timeout is None else header_timeout
    return {
        "http": protocol_class(timeout),
        "limit_concurrency": settings.api_max_connections() if max_connections is None else max_connections,
        "timeout_keep_alive": 5,
    }
