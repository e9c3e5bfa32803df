"""Apply a change to JSON text touching only the values that changed.

`patch_json_text(text, old, new)` rewrites ``text`` (which parses to ``old``) so that it parses to
``new``: a changed value's text is replaced in place, a removed member is cut out with its comma,
an added member goes after the object's last one on a line of its own (indented like its
siblings). Everything else — line ends (CRLF stays CRLF), indentation, blank lines, inline
arrays, comment keys — stays byte-identical, so a rewrite diff shows only the owned keys.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from json.decoder import scanstring
from typing import Any

_WS = " \t\r\n"
_SCALAR_END = ",]} \t\r\n"


@dataclass
class Node:
    start: int
    end: int
    members: dict[str, tuple[int, Node]] = field(default_factory=dict)  # objects: key -> (key offset, value)
    items: list[Node] = field(default_factory=list)  # arrays
    kind: str = "scalar"


class _Parser:
    def __init__(self, text: str) -> None:
        self.text, self.i = text, 0

    def ws(self) -> None:
        while self.i < len(self.text) and self.text[self.i] in _WS:
            self.i += 1

    def value(self) -> Node:
        self.ws()
        start, ch = self.i, self.text[self.i]
        if ch == "{":
            return self._container(start, "}", "object")
        if ch == "[":
            return self._container(start, "]", "array")
        if ch == '"':
            _, self.i = scanstring(self.text, start + 1)
            return Node(start, self.i)
        while self.i < len(self.text) and self.text[self.i] not in _SCALAR_END:
            self.i += 1
        return Node(start, self.i)

    def _container(self, start: int, close: str, kind: str) -> Node:
        node = Node(start, start, kind=kind)
        self.i += 1
        self.ws()
        while self.text[self.i] != close:
            if kind == "object":
                key_at = self.i
                key, self.i = scanstring(self.text, key_at + 1)
                self.ws()
                self.i += 1  # ':'
                node.members[key] = (key_at, self.value())
            else:
                node.items.append(self.value())
            self.ws()
            if self.text[self.i] == ",":
                self.i += 1
                self.ws()
        self.i += 1
        node.end = self.i
        return node


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=False) == json.dumps(b, sort_keys=False)


class _Patcher:
    def __init__(self, text: str, indent: int) -> None:
        self.text, self.indent = text, indent
        self.nl = "\r\n" if "\r\n" in text else "\n"
        self.edits: list[tuple[int, int, str]] = []

    def line_indent(self, pos: int) -> str:
        line_start = self.text.rfind("\n", 0, pos) + 1
        line = self.text[line_start:pos]
        return line[: len(line) - len(line.lstrip(" \t"))]

    def dump(self, value: Any, at: int, inline: bool) -> str:
        if inline or not isinstance(value, dict | list) or not value:
            return json.dumps(value, ensure_ascii=False)
        text = json.dumps(value, indent=self.indent, ensure_ascii=False)
        return text.replace("\n", self.nl + self.line_indent(at))

    def patch(self, node: Node, old: Any, new: Any) -> None:
        if _same(old, new):
            return
        if node.kind == "object" and isinstance(old, dict) and isinstance(new, dict) and node.members:
            self._object(node, old, new)
        elif node.kind == "array" and isinstance(old, list) and isinstance(new, list) and len(old) == len(new) and node.items:
            for item, a, b in zip(node.items, old, new, strict=True):
                self.patch(item, a, b)
        else:
            inline = "\n" not in self.text[node.start:node.end] and bool(node.members or node.items)
            self.edits.append((node.start, node.end, self.dump(new, node.start, inline)))

    def _object(self, node: Node, old: dict, new: dict) -> None:
        keys = list(node.members)
        for key in old:
            if key not in new:
                self._remove(node, keys, key)
        for key, value in new.items():
            if key in old and key in node.members:
                self.patch(node.members[key][1], old[key], value)
        added = {k: v for k, v in new.items() if k not in old}
        if added:
            self._add(node, keys, added)

    def _remove(self, node: Node, keys: list[str], key: str) -> None:
        index = keys.index(key)
        key_at, value = node.members[key]
        if index > 0:  # from the end of the previous value: takes the comma and this member's line
            self.edits.append((node.members[keys[index - 1]][1].end, value.end, ""))
        elif len(keys) > 1:
            self.edits.append((key_at, node.members[keys[1]][0], ""))
        else:
            self.edits.append((node.start + 1, node.end - 1, ""))

    def _add(self, node: Node, keys: list[str], added: dict[str, Any]) -> None:
        last_key_at, last = node.members[keys[-1]]
        inline = "\n" not in self.text[node.start:node.end]
        sep = ", " if inline else "," + self.nl + self.line_indent(last_key_at)
        parts = []
        for key, value in added.items():
            # the new member sits at the last key's indentation, so nested lines indent from there
            rendered = self.dump(value, last_key_at, inline)
            parts.append(f"{sep}{json.dumps(key, ensure_ascii=False)}: {rendered}")
        self.edits.append((last.end, last.end, "".join(parts)))

    def apply(self) -> str:
        out = self.text
        for start, end, replacement in sorted(self.edits, key=lambda e: (e[0], e[1]), reverse=True):
            out = out[:start] + replacement + out[end:]
        return out


def patch_json_text(text: str, old: Any, new: Any, indent: int = 2) -> str:
    """``text`` (parsing to ``old``) changed so that it parses to ``new``, touching only what changed."""
    root = _Parser(text).value()
    patcher = _Patcher(text, indent)
    patcher.patch(root, old, new)
    return patcher.apply()
