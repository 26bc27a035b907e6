"""The route table: (method, path pattern) -> handler, with 404 and 405 from the table.

A pattern is a literal path or has ``{name}`` segments (one path segment, no ``/``) or a
final ``{name:path}`` (the rest of the path). A path that matches some pattern with another
method is 405 (with ``Allow``); a path no pattern matches is 404. Literal paths are one
dict lookup; patterns are tried in the order they were added.

Example::

    routes = Routes()
    routes.add(("POST",), "/v1/chat/completions", chat_handler)
    routes.add(("GET", "HEAD"), "/v1/models/{model:path}", model_handler)
    handler, params = routes.match("GET", "/v1/models/gpt-4o")   # params {"model": "gpt-4o"}
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from skyrelay.gateway.errors import GatewayError

_PARAM = re.compile(r"\{([a-z_]+)(:path)?\}")


def _compile(pattern: str) -> re.Pattern[str]:
    out, pos = [], 0
    for m in _PARAM.finditer(pattern):
        out.append(re.escape(pattern[pos:m.start()]))
        out.append(f"(?P<{m.group(1)}>.+)" if m.group(2) else f"(?P<{m.group(1)}>[^/]+)")
        pos = m.end()
    out.append(re.escape(pattern[pos:]))
    return re.compile("".join(out) + r"\Z")


class MethodNotAllowed(GatewayError):
    """405 with the methods the path does allow."""

    __slots__ = ("allow",)

    def __init__(self, method: str, path: str, allow: Iterable[str]) -> None:
        shown = path if len(path) <= 200 else path[:200] + "..."
        super().__init__(405, f"Method {method} is not allowed on {shown}.",
                         code="method_not_allowed")
        self.allow = tuple(sorted(set(allow)))

    def headers(self) -> list[tuple[bytes, bytes]]:
        """``Allow`` and the usual error headers."""
        return [(b"allow", ", ".join(self.allow).encode()), *super().headers()]


class Routes:
    """An ordered table of (methods, pattern, handler)."""

    def __init__(self) -> None:
        self._literal: dict[str, dict[str, Any]] = {}
        self._patterns: list[tuple[re.Pattern[str], dict[str, Any]]] = []

    def add(self, methods: Iterable[str], pattern: str, handler: Any) -> None:
        """Serve ``pattern`` with ``handler`` for each of ``methods``."""
        if _PARAM.search(pattern) is None:
            by_method = self._literal.setdefault(pattern, {})
        else:
            regex = _compile(pattern)
            for existing, table in self._patterns:
                if existing.pattern == regex.pattern:
                    by_method = table
                    break
            else:
                by_method = {}
                self._patterns.append((regex, by_method))
        for method in methods:
            by_method[method] = handler

    def match(self, method: str, path: str) -> tuple[Any, dict[str, str]]:
        """``(handler, path params)``; raises GatewayError 404 or :class:`MethodNotAllowed`."""
        by_method = self._literal.get(path)
        params: dict[str, str] = {}
        if by_method is None:
            for regex, table in self._patterns:
                m = regex.match(path)
                if m is not None:
                    by_method, params = table, m.groupdict()
                    break
            else:
                raise GatewayError.not_found(path)
        handler = by_method.get(method)
        if handler is None:
            raise MethodNotAllowed(method, path, by_method)
        return handler, params
