"""A strict, bounded, incremental server-sent-events parser for upstream streams.

Example::

    parser = SSEParser()
    events = parser.feed(b"data: {}\\n\\n")   # [("message", b"{}")]
"""

from __future__ import annotations

from skyrelay.gateway.providers.base import ProviderError

#: One SSE event may not exceed this (a stream that never sends a newline is not SSE).
MAX_EVENT_BYTES = 8 * 1024 * 1024


class SSEParser:
    """Incremental server-sent-events parser yielding each event's ``data``.

    Strict on purpose: a line that is not an SSE field (``data``, ``event``, ``id``,
    ``retry``) or comment raises ``ProviderError(kind="protocol")``, so an upstream answering
    something else is a fault, not a silently empty stream.

    >>> SSEParser().feed(b"event: ping\\ndata: 1\\n\\n")
    [('ping', b'1')]
    """

    __slots__ = ("_buffer", "_data", "_event", "_size")

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[bytes] = []
        self._event = b""
        self._size = 0  # bytes of the event being built (its data lines together)

    def feed(self, chunk: bytes) -> list[tuple[str, bytes]]:
        """Add bytes; return the completed events as ``(event_name, data)``."""
        buffer = self._buffer + chunk if self._buffer else chunk
        if b"\n" not in buffer:
            if len(buffer) > MAX_EVENT_BYTES:
                raise ProviderError("protocol", 502, "an upstream SSE line exceeds "
                                    f"{MAX_EVENT_BYTES} bytes", retryable=True)
            self._buffer = buffer
            return []
        *lines, self._buffer = buffer.split(b"\n")
        events: list[tuple[str, bytes]] = []
        for line in lines:
            self._line(line[:-1] if line.endswith(b"\r") else line, events)
        return events

    def close(self) -> list[tuple[str, bytes]]:
        """End of input: the last event if it lacked its blank line."""
        events: list[tuple[str, bytes]] = []
        if self._buffer:
            self._line(self._buffer.rstrip(b"\r"), events)
            self._buffer = b""
        self._line(b"", events)
        return events

    def _line(self, line: bytes, events: list[tuple[str, bytes]]) -> None:
        if not line:
            if self._data:
                events.append((self._event.decode("utf-8", "replace") or "message",
                               b"\n".join(self._data)))
            self._data, self._event, self._size = [], b"", 0
            return
        if line.startswith(b":"):
            return
        field, sep, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if field == b"data":
            self._size += len(value) + 1
            if self._size > MAX_EVENT_BYTES:  # many lines without a blank one: one event
                raise ProviderError("protocol", 502, "an upstream SSE event exceeds "
                                    f"{MAX_EVENT_BYTES} bytes", retryable=True)
            self._data.append(value)
        elif field == b"event":
            self._event = value
        elif field in (b"id", b"retry") and sep:
            return
        else:
            text = line[:80].decode("utf-8", "replace")
            raise ProviderError("protocol", 502, f"the upstream sent a line that is not SSE: "
                                f"{text!r}", retryable=True)
