"""Load a YAML config file into a pydantic model, with errors a person can act on.

Config that users edit (sources, catalogue, rule table, recipients) is validated on load.
An error names the file, the key path inside it and the bad value, e.g.

    sources.yaml: sources[3] (id 'partille') → delimiter: got '::', expected one of auto, ';', ',', '\\t', '|'
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TypeVar

import pydantic
import yaml

from schemas.errors import ConfigError

Model = TypeVar("Model", bound=pydantic.BaseModel)

_MAX_VALUE_CHARS = 60
# libyaml's safe loader parses a national sources.yaml (290 sources) ~20x faster than the
# pure-Python one, and every ingest run parses it; PyYAML's wheels always ship libyaml.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class StrictModel(pydantic.BaseModel):
    """Base for config models: unknown keys are errors (a typo must not be ignored)."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def load_yaml_model(path: Path, model: type[Model]) -> Model:
    """Parse `path` as YAML and validate it as `model`, raising `ConfigError` on any problem.

    The file is read every time; an unchanged text is not parsed again in this process (every
    in-process ingest run loads sources.yaml, and the models are frozen)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    key = (str(path.resolve()), model, hashlib.sha256(data).digest())
    if key not in _PARSED:
        if len(_PARSED) >= _PARSED_KEPT:
            _PARSED.pop(next(iter(_PARSED)))
        _PARSED[key] = _parse(path, data, model)
    return _PARSED[key]


_PARSED: dict[tuple, pydantic.BaseModel] = {}
_PARSED_KEPT = 32


def parse_yaml_model(path: Path, data: bytes, model: type[Model]) -> Model:
    """`data` validated as `model` as if read from `path` (uncached): for a text about to be written."""
    return _parse(Path(path), data, model)


def _parse(path: Path, data: bytes, model: type[Model]) -> Model:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as problem:
        raise ConfigError(f"{path}: not UTF-8 text (byte {problem.start})") from None
    try:
        document = yaml.load(text, Loader=_SAFE_LOADER)
    except yaml.YAMLError as problem:
        mark = getattr(problem, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(problem, "problem", None) or "not valid YAML"
        raise ConfigError(f"{path}:{where}: {reason}") from None
    if document is None:
        raise ConfigError(f"{path}: the file is empty")
    try:
        return model.model_validate(document, context={"base_dir": path.parent})
    except pydantic.ValidationError as problem:
        raise ConfigError(format_validation_error(path, document, problem)) from None


def format_validation_error(path: Path, document: object, error: pydantic.ValidationError) -> str:
    lines = [f"{path}: {error.error_count()} problem(s)"]
    for item in error.errors(include_url=False):
        lines.append(f"  {_key_path(document, item['loc'])}: {_describe(item)}")
    return "\n".join(lines)


def _key_path(document: object, loc: tuple) -> str:
    """`sources[3] (id 'partille').delimiter` from pydantic's location tuple."""
    parts: list[str] = []
    node = document
    for step in loc:
        if isinstance(step, int):
            label = f"[{step}]"
            item = node[step] if isinstance(node, list) and step < len(node) else None
            if isinstance(item, dict) and ("id" in item or "code" in item):
                key = "id" if "id" in item else "code"
                label += f" ({key} {item[key]!r})"
            parts.append(label)
            node = item
        else:
            parts.append(f".{step}" if parts else str(step))
            node = node.get(step) if isinstance(node, dict) else None
    return "".join(parts) or "(top level)"


def _describe(item: dict) -> str:
    message = item["msg"].removeprefix("Value error, ")
    if item["type"] == "missing":
        return "missing (required)"
    if item["type"] == "extra_forbidden":
        return "unknown key (check the spelling)"
    value = item.get("input")
    if isinstance(value, (str, int, float, bool)):
        shown = repr(value)
        if len(shown) > _MAX_VALUE_CHARS:
            shown = shown[: _MAX_VALUE_CHARS - 3] + "..."
        return f"got {shown}: {message}"
    return message
