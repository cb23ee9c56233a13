"""Reading YAML files and checking the values in them, one way for every file.

The exporter's config file and the web config file are read by the same
rules: a problem is a ``ConfigError`` that starts with the dotted key it is
about (``targets[0].port: ...``), so the user reads where to look before what
is wrong. A value that may be a secret is never echoed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any


class ConfigError(ValueError):
    """A configuration problem, already phrased for the user."""


def error(key: str, problem: str) -> ConfigError:
    """The one shape of a problem: the key first, then what is wrong with it."""
    return ConfigError(f"{key}: {problem}")


def read_yaml_file(path: str, label: str) -> object:
    """The YAML document in ``path``; any problem is a ``ConfigError`` starting ``label``."""
    import yaml  # only with a config file: flags-only starts do without it

    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except OSError as exc:
        raise ConfigError(f"{label}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{label}: not UTF-8 text") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{label}: invalid YAML{where}: {problem}") from exc


def check_keys(doc: Mapping[str, Any], allowed: frozenset[str] | set[str], prefix: str) -> None:
    """Refuse a key not in ``allowed``: a typo must not silently mean a default.

    Every file and every level of it comes here, so each gets the same "did
    you mean" for a near miss (``pol_interval`` -> ``poll_interval``).
    """
    for key in doc:
        if key not in allowed:
            hint = ", ".join(sorted(allowed))
            near = closest(str(key), allowed)
            guess = f", did you mean {near}?" if near else ""
            raise ConfigError(f"{prefix}{key}: unknown key{guess} (allowed: {hint})")


def closest(word: str, choices: frozenset[str] | set[str]) -> str | None:
    """The choice ``word`` is most likely a typo of, if one is close enough."""
    import difflib  # only for an error

    by_lower = {choice.lower(): choice for choice in choices}
    matches = difflib.get_close_matches(word.lower(), sorted(by_lower), n=1, cutoff=0.75)
    return by_lower[matches[0]] if matches else None


def mapping(value: object, key: str) -> dict[str, Any]:
    """A mapping with string keys; an absent one (``None``) is empty."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__}")
    for name in value:
        if not isinstance(name, str):
            raise ConfigError(f"{key}: keys must be strings, got {name!r}")
    return value


def string(value: object, key: str) -> str:
    """A non-empty string, stripped."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key}: expected a non-empty string, got {value!r}")
    return value.strip()


def flag(value: object, key: str) -> bool:
    """``true`` or ``false``; YAML's ``yes``/``1`` spellings of other types are refused."""
    if not isinstance(value, bool):
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    return value


def choice(value: object, key: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(f"{key}: must be one of {', '.join(choices)}; got {value!r}")
    return value


def readable_file(value: object, key: str, base_dir: str) -> str:
    """The path of a readable file named by ``value``, relative to ``base_dir``."""
    name = string(value, key)
    resolved = name if os.path.isabs(name) else os.path.join(base_dir, name)
    if not os.path.isfile(resolved):
        raise ConfigError(f"{key}: file not found: {resolved}")
    if not os.access(resolved, os.R_OK):
        raise ConfigError(f"{key}: file not readable: {resolved}")
    return resolved


def whole_number_in(text: str, key: str, lowest: int, highest: int, unit: str = "") -> int:
    """A whole number from ``lowest`` to ``highest`` typed as text (a flag's value)."""
    try:
        value = int(text)
    except ValueError:
        value = lowest - 1
    if not lowest <= value <= highest:
        what = f" {unit}" if unit else ""
        raise ConfigError(f"{key}: expected {lowest}-{highest}{what}, got {text!r}")
    return value
