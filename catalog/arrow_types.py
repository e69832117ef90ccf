"""Arrow types: parse the names a dataset spec's ``schema:`` uses, and tell type families apart.

Accepts what ``str(pyarrow_type)`` prints (so a schema can be copied from a notebook) and the
short forms people type: ``int64``, ``string``, ``timestamp[us, tz=UTC]``, ``list<float32>``,
``fixed_size_list<float32>[4]``, ``struct<id: int64, name: string>``, ``map<string, int64>``,
``decimal128(10, 2)``.

>>> parse_arrow_type("list<item: float>")
ListType(list<item: float>)
"""

from __future__ import annotations

import re

import pyarrow as pa

__all__ = ["decoded", "is_binary_type", "is_list_type", "is_string_type", "parse_arrow_type"]

# A time zone ("tz=Europe/Paris", "tz=+01:00") is one token: its characters mean nothing here.
_TOKEN = re.compile(r"\s*(tz=[^\]]+|[A-Za-z_][A-Za-z0-9_]*|\d+|[<>\[\](),:])")


def parse_arrow_type(text: str) -> pa.DataType:
    """Return the Arrow type named by ``text``; raise ``ValueError`` saying what is wrong."""
    parser = _Parser(text)
    result = parser.parse_type()
    if parser.peek() is not None:
        raise ValueError(f"unexpected {parser.peek()!r} after the type in {text!r}")
    return result


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[str] = []
        position = 0
        while position < len(text.rstrip()):
            match = _TOKEN.match(text, position)
            if match is None:
                raise ValueError(f"cannot read {text[position:]!r} in type {text!r}")
            self.tokens.append(match.group(1))
            position = match.end()
        self.index = 0

    def peek(self) -> str | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            wanted = f"{expected!r}" if expected else "more"
            raise ValueError(f"expected {wanted} in type {self.text!r}")
        self.index += 1
        return token

    def parse_type(self) -> pa.DataType:
        name = self.take().lower()
        if name in ("list", "large_list"):
            item = self._item_field()
            return pa.list_(item) if name == "list" else pa.large_list(item)
        if name == "fixed_size_list":
            item = self._item_field()
            self.take("[")
            size = int(self.take())
            self.take("]")
            return pa.list_(item, size)
        if name == "struct":
            return pa.struct(self._fields())
        if name == "map":
            self.take("<")
            key = self.parse_type()
            self.take(",")
            value = self.parse_type()
            self.take(">")
            return pa.map_(key, value)
        if name == "timestamp":
            return self._timestamp()
        if name in ("decimal128", "decimal256", "decimal"):
            self.take("(")
            precision = int(self.take())
            self.take(",")
            scale = int(self.take())
            self.take(")")
            return (
                pa.decimal256(precision, scale)
                if name == "decimal256"
                else pa.decimal128(precision, scale)
            )
        if self.peek() == "[":  # time32[ms], duration[us], date64[ms] ...
            self.take("[")
            name = f"{name}[{self.take()}]"
            self.take("]")
        try:
            return pa.type_for_alias(name)
        except ValueError:
            raise ValueError(f"unknown Arrow type {name!r} in {self.text!r}") from None

    def _item_field(self) -> pa.Field:
        self.take("<")
        if self.index + 1 < len(self.tokens) and self.tokens[self.index + 1] == ":":
            name = self.take()
            self.take(":")
            field = pa.field(name, self.parse_type())
        else:
            field = pa.field("item", self.parse_type())
        self.take(">")
        return field

    def _fields(self) -> list[pa.Field]:
        self.take("<")
        fields = []
        while True:
            name = self.take()
            self.take(":")
            fields.append(pa.field(name, self.parse_type()))
            if self.peek() != ",":
                break
            self.take(",")
        self.take(">")
        return fields

    def _timestamp(self) -> pa.DataType:
        self.take("[")
        unit = self.take()
        tz = None
        if self.peek() == ",":
            self.take(",")
            tz = self.take().removeprefix("tz=").strip()
        self.take("]")
        return pa.timestamp(unit, tz=tz)


def is_string_type(kind: pa.DataType) -> bool:
    """Text in any of Arrow's layouts (string, large_string, string_view)."""
    return bool(
        pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)
    )


def is_binary_type(kind: pa.DataType) -> bool:
    """Bytes in any of Arrow's layouts, fixed-size included."""
    return bool(
        pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_binary_view(kind)
        or pa.types.is_fixed_size_binary(kind)
    )


def is_list_type(kind: pa.DataType) -> bool:
    """A list in any of Arrow's layouts (list, large_list, fixed_size_list, list_view)."""
    return bool(
        pa.types.is_list(kind)
        or pa.types.is_large_list(kind)
        or pa.types.is_fixed_size_list(kind)
        or pa.types.is_list_view(kind)
    )


def decoded(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """``values`` with a dictionary encoding undone (the values themselves), else as they are:
    checks and policies judge values, not dictionary indices."""
    if pa.types.is_dictionary(values.type):
        return values.cast(values.type.value_type)
    return values
