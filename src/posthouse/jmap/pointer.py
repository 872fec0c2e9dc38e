"""JSON Pointer (RFC 6901) as result references use it, with JMAP's ``*`` (RFC 8620 3.7).

``*`` applied to an array maps the rest of the pointer over each item; items that give
arrays are flattened into the one result array. Pure.
"""

from __future__ import annotations

from typing import Any


class PointerError(ValueError):
    """The pointer is malformed or does not resolve in the value."""


def _tokens(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise PointerError(f"pointer {pointer!r} does not start with /")
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def evaluate(value: Any, pointer: str) -> Any:
    """The part of ``value`` that ``pointer`` names (PointerError if none)."""
    return _walk(value, _tokens(pointer))


def _walk(value: Any, tokens: list[str]) -> Any:
    if not tokens:
        return value
    token, rest = tokens[0], tokens[1:]
    if isinstance(value, list):
        if token == "*":  # noqa: S105 (the JMAP wildcard, not a password)
            out: list[Any] = []
            for item in value:
                found = _walk(item, rest)
                if isinstance(found, list):
                    out.extend(found)
                else:
                    out.append(found)
            return out
        if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
            raise PointerError(f"{token!r} is not an array index")
        index = int(token)
        if index >= len(value):
            raise PointerError(f"index {index} is past the end")
        return _walk(value[index], rest)
    if isinstance(value, dict):
        if token not in value:
            raise PointerError(f"no member {token!r}")
        return _walk(value[token], rest)
    raise PointerError(f"cannot step into a {type(value).__name__} with {token!r}")
