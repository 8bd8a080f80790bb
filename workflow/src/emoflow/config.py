"""Config helpers used when the workflow is parsed.

Snakemake parses nested ``--config`` values (``--config text='{"lr": 2e-5}'``) with YAML's base loader,
which leaves every nested scalar a string. ``coerce_cli_strings`` converts such strings back to numbers,
booleans, null or lists wherever the schema says the key is not a string, so the documented overrides
work and a real typo (``"four"``) still fails validation with the key named.
"""

from __future__ import annotations

from typing import Any

import yaml


def _resolve(node: dict, root: dict) -> dict:
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            break
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _types(node: dict) -> set[str]:
    t = node.get("type", [])
    return set([t] if isinstance(t, str) else t)


def _coerce(value: Any, node: dict, root: dict) -> Any:
    node = _resolve(node, root)
    types = _types(node)
    if isinstance(value, dict) and "properties" in node:
        props = node["properties"]
        return {k: _coerce(v, props[k], root) if k in props else v for k, v in value.items()}
    if isinstance(value, list) and "items" in node:
        return [_coerce(v, node["items"], root) for v in value]
    if isinstance(value, str) and types and "string" not in types:
        for number in (int, float):  # YAML 1.1 would leave "2e-5" a string
            if types & {"number", "integer"}:
                try:
                    return number(value)
                except ValueError:
                    pass
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        if isinstance(parsed, list) and "items" in node:
            return [_coerce(v, node["items"], root) for v in parsed]
        return parsed
    return value


def coerce_cli_strings(config: dict, schema: dict) -> dict:
    """Return ``config`` with schema-typed scalars parsed from strings (in place for nested dicts)."""
    coerced = _coerce(config, schema, schema)
    config.clear()
    config.update(coerced)
    return config
