"""YAML as the project file needs it: safe loading that refuses a key written twice.

PyYAML keeps the last of two equal keys in a mapping, so a second ``rides:`` under ``datasets``
silently replaces the first. Here it is an error naming the key and both lines.

>>> load_unique_yaml("a: 1\\nb: 2\\n")
{'a': 1, 'b': 2}
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["DuplicateKeyError", "load_unique_yaml"]


class DuplicateKeyError(yaml.MarkedYAMLError):
    """A mapping holds the same key twice; ``problem_mark`` is the second one."""

    def __init__(self, key: Any, first: yaml.Mark, second: yaml.Mark) -> None:
        super().__init__(
            problem=f"key {key!r} appears twice (first on line {first.line + 1})",
            problem_mark=second,
        )
        self.key = key


class _UniqueKeyLoader(yaml.SafeLoader):
    """``SafeLoader`` whose mappings refuse repeated keys (merge keys ``<<`` may override)."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, yaml.Mark] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: the base loader says so
                    continue
                if first is not None:
                    raise DuplicateKeyError(key, first, key_node.start_mark)
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)  # type: ignore[arg-type]


def load_unique_yaml(text: str) -> Any:
    """``yaml.safe_load(text)``, but a key repeated in one mapping raises
    :class:`DuplicateKeyError` (a ``yaml.MarkedYAMLError`` whose mark is the repeat)."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
