"""YAML emission for card front matter and manifests, through PyYAML.

Block style, keys in insertion order, sequences indented under their key. A string that YAML
would read as something else (``yes``, ``null``, ``1.0``, ``0x1F``), or that holds YAML syntax,
surrounding whitespace or control characters, is written double-quoted with escapes, so every
value loads back as the same type and text. Non-finite floats are ``.nan``/``.inf``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

__all__ = ["_render_yaml_scalar", "dump_yaml"]

_SPECIAL = re.compile(r"""[:#\[\]{},&*!|>'"%@`]|^[?\-\s]|\s$|[\x00-\x1f\x7f\x85\u2028\u2029]""")


def _needs_quotes(s: str) -> bool:
    if s == "" or _SPECIAL.search(s) is not None:
        return True
    # anything the YAML resolver would not read back as a plain string (bool, null, numbers...)
    tag = _RESOLVER.resolve(yaml.ScalarNode, s, (True, False))  # type: ignore[no-untyped-call]
    return bool(tag != "tag:yaml.org,2002:str")


_RESOLVER = yaml.resolver.Resolver()


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)  # "key:\n  - item", not "key:\n- item"


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = '"' if _needs_quotes(data) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


def _represent_tuple(dumper: yaml.SafeDumper, data: tuple[Any, ...]) -> yaml.SequenceNode:
    return dumper.represent_list(list(data))


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(tuple, _represent_tuple)


def dump_yaml(data: Mapping[str, Any]) -> str:
    """Block-style YAML of a mapping (keys as given), ending with a newline; ``{}`` → ``""``."""
    if not data:
        return ""
    out = yaml.dump(
        dict(data),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=2**31 - 1,
    )
    return str(out)


def _render_yaml_scalar(value: Any) -> str:
    """One scalar as it appears after ``key: `` (``True`` → ``true``, ``"a: b"`` → ``"a: b"``)."""
    return dump_yaml({"k": value})[len("k: ") :].rstrip("\n")
