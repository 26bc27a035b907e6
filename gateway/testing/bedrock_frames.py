"""AWS event-stream frames as Bedrock's streaming APIs send them, for the local fakes.

Each frame: a prelude with total and header lengths and its CRC32, string headers
(``:event-type``/``:content-type``/``:message-type``), the payload and the message CRC32,
exactly as botocore's ``EventStreamBuffer`` decodes them.

Example::

    frame = event("messageStart", {"role": "assistant"})
"""

from __future__ import annotations

import binascii
import json
import struct
from typing import Any


def encode_frame(headers: dict[str, str], payload: bytes, *, corrupt: bool = False) -> bytes:
    """One event-stream message with string-typed headers and correct (or broken) CRCs."""
    head = b""
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        head += struct.pack("!B", len(raw_name)) + raw_name + b"\x07"
        head += struct.pack("!H", len(raw_value)) + raw_value
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack("!II", total, len(head))
    prelude += struct.pack("!I", binascii.crc32(prelude) & 0xFFFFFFFF)
    body = prelude + head + payload
    crc = binascii.crc32(body) & 0xFFFFFFFF
    return body + struct.pack("!I", crc ^ 1 if corrupt else crc)


def event(name: str, payload: dict[str, Any], *, corrupt: bool = False) -> bytes:
    """An ``event`` message as ConverseStream sends it."""
    return encode_frame({":event-type": name, ":content-type": "application/json",
                         ":message-type": "event"}, json.dumps(payload).encode(),
                        corrupt=corrupt)


def exception(name: str, message: str) -> bytes:
    """An in-stream ``exception`` message."""
    return encode_frame({":exception-type": name, ":content-type": "application/json",
                         ":message-type": "exception"}, json.dumps({"message": message}).encode())
