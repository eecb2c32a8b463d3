"""Study configs: frozen dataclasses, documented field by field, with ``--set`` parsing.

A study's config subclasses :class:`StudyConfig` and declares every field with
:func:`param`, which carries its help text. ``sobolev run <study> --set key=value``
is generated from those fields: :func:`apply_overrides` converts each value to the
field's annotated type (bool, int, float, str, ``Literal``, ``X | None``, tuples of
those, or JSON for anything else) and raises a ``ValueError`` naming the field and
what was expected. Field values are then validated by the config's ``validate``.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal, Union, get_args, get_origin

__all__ = ["StudyConfig", "apply_overrides", "describe_fields", "param"]


def param(default: Any, help: str) -> Any:
    """A config field with a default and a help text (shown by ``sobolev run X --help``).

    Lists are stored as tuples (and dicts copied), so a default is never shared.
    """
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: _freeze(default), metadata={"help": help})
    return dataclasses.field(default=default, metadata={"help": help})


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return {k: _freeze(v) for k, v in value.items()}
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    if isinstance(value, dict):
        return {k: _thaw(v) for k, v in value.items()}
    return value


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    """Base of every study config: frozen, validated on construction, JSON round-trip.

    Subclasses override :meth:`validate` to raise ``ValueError`` naming the bad field.
    """

    study: ClassVar[str] = ""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, _freeze(getattr(self, f.name)))
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first invalid field (default: no checks)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples as lists), in field order."""
        return {f.name: _thaw(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]):
        """Build from a dict such as :meth:`to_dict` wrote; unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(
                f"unknown field(s) {unknown} for {cls.__name__}; fields: {sorted(names)}"
            )
        return cls(**dict(data))

    def replace(self, **changes: Any):
        """A copy with ``changes`` applied (and validated)."""
        return dataclasses.replace(self, **changes)


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in get_args(tp))
    if origin is tuple:
        args = get_args(tp)
        inner = _type_name(args[0]) if args else "value"
        return f"comma-separated {inner}s"
    if tp is type(None):
        return "none"
    return getattr(tp, "__name__", str(tp))


def _convert(text: Any, tp: Any) -> Any:
    """Convert ``text`` (a str from the command line, or a value) to type ``tp``."""
    origin = get_origin(tp)
    if origin is Literal:
        for choice in get_args(tp):
            if text == choice or (isinstance(text, str) and str(choice) == text):
                return choice
        raise ValueError
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if type(None) in args and (text is None or str(text).lower() in ("none", "null")):
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(text, arg)
            except (ValueError, TypeError):
                continue
        raise ValueError
    if origin is tuple:
        args = get_args(tp)
        inner = args[0] if args else Any
        if isinstance(text, str):
            text = text.strip()
            items = (
                json.loads(text)
                if text.startswith("[")
                else [t.strip() for t in text.split(",") if t.strip()]
            )
        else:
            items = list(text)
        return tuple(_convert(t, inner) for t in items)
    if tp is bool:
        if isinstance(text, bool):
            return text
        low = str(text).lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise ValueError
    if tp is int:
        if isinstance(text, bool):
            raise ValueError
        return int(text)
    if tp is float:
        if isinstance(text, bool):
            raise ValueError
        return float(text)
    if tp is str:
        return str(text)
    if tp is Any:
        return json.loads(text) if isinstance(text, str) else text
    return json.loads(text) if isinstance(text, str) else text


def apply_overrides(config: StudyConfig, pairs: Sequence[str]) -> StudyConfig:
    """Apply ``key=value`` strings to a config (the ``--set`` options).

    Raises
    ------
    ValueError
        On a malformed pair, an unknown field, a value of the wrong type (the message
        names the field and the expected type) or a value the config rejects.
    """
    hints = typing.get_type_hints(type(config))
    fields = {f.name for f in dataclasses.fields(config)}
    changes: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ValueError(f"--set expects key=value, got {pair!r}")
        if key not in fields:
            raise ValueError(
                f"--set {key}: unknown field of {type(config).__name__}; "
                f"fields: {', '.join(sorted(fields))}"
            )
        try:
            changes[key] = _convert(value, hints[key])
        except (ValueError, TypeError, json.JSONDecodeError):
            raise ValueError(
                f"--set {key}: expected {_type_name(hints[key])}, got {value!r}"
            ) from None
    return config.replace(**changes) if changes else config


def describe_fields(cls: type[StudyConfig]) -> list[tuple[str, str, str, str]]:
    """``(name, type, default, help)`` per field, for ``--help`` and ``sobolev list``."""
    hints = typing.get_type_hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = "(required)"
        rows.append(
            (f.name, _type_name(hints[f.name]), repr(_thaw(default)), f.metadata.get("help", ""))
        )
    return rows
