"""A model's search space, as ``conf/search/<model>.yaml`` states it.

The file mirrors the configuration: each tuned key holds its range::

    train:
      lr: {low: 1.0e-4, high: 1.0e-2, log: true}   # float, log-uniform
    model:
      num_layers: {low: 1, high: 4}                 # integer
      combine: {choices: [mean, last]}              # categorical
      eps: {low: 0.05, high: 0.5, step: 0.05}       # float on a grid

so one bound changes from the command line like any setting
(``search.model.num_layers.high=2``).
``low``/``high`` of integers give an integer range, otherwise a float range;
``log: true`` samples on a log scale; ``step`` quantises. The keys must
exist in the composed configuration, so that a typo fails before any trial.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from gnnrec.errors import ConfigError

RANGE_KEYS = {"low", "high", "log", "step"}


@dataclass(frozen=True)
class SearchSpace:
    """Named Optuna distributions over dotted config keys, in file order."""

    distributions: dict[str, BaseDistribution]
    source: str

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any], source: str) -> SearchSpace:
        """Parse ``spec`` (the ``search`` node); ``source`` names its file in errors."""
        dists: dict[str, BaseDistribution] = {}
        for key, entry in _ranges(spec, ""):
            dists[key] = _distribution(key, entry, source)
        return cls(dists, source)

    def __len__(self) -> int:
        return len(self.distributions)

    def grid(self) -> dict[str, list[Any]] | None:
        """Every value of every key when all keys are categorical (a small grid
        is then searched exhaustively), else None."""
        if not all(isinstance(d, CategoricalDistribution) for d in self.distributions.values()):
            return None
        return {k: list(d.choices) for k, d in self.distributions.items()}  # type: ignore[attr-defined]

    def grid_size(self) -> int:
        grid = self.grid()
        return math.prod(len(v) for v in grid.values()) if grid is not None else 0

    def default_point(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The values ``config`` (the composed configuration) gives the space's
        keys, when every one lies in its range; else ``{}``."""
        point: dict[str, Any] = {}
        for key, dist in self.distributions.items():
            node: Any = config
            for part in key.split("."):
                node = node.get(part) if isinstance(node, Mapping) else None
            if not _inside(dist, node):
                return {}
            point[key] = node
        return point

    def describe(self) -> dict[str, str]:
        """Each key's range as one short string (for the summary and the README)."""
        out: dict[str, str] = {}
        for key, d in self.distributions.items():
            if isinstance(d, CategoricalDistribution):
                out[key] = "{" + ", ".join(str(c) for c in d.choices) + "}"
            elif isinstance(d, FloatDistribution | IntDistribution):
                scale = " log" if d.log else (f" step {d.step}" if d.step not in (None, 1) else "")
                out[key] = f"[{d.low:g}, {d.high:g}]{scale}"
        return out


def _inside(dist: BaseDistribution, value: Any) -> bool:
    """Whether ``value`` is one of ``dist``'s choices or within its range."""
    if isinstance(dist, CategoricalDistribution):
        return value in dist.choices
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(dist, IntDistribution) and not float(value).is_integer():
        return False
    assert isinstance(dist, FloatDistribution | IntDistribution)
    return dist.low <= value <= dist.high


def _ranges(node: Mapping[str, Any], prefix: str) -> list[tuple[str, Any]]:
    """``(dotted key, range)`` pairs of a nested spec: a range is a mapping
    with ``choices`` or ``low``, or anything that is not a mapping (an error
    :func:`_distribution` reports)."""
    out: list[tuple[str, Any]] = []
    for key, value in node.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value and not {"choices", "low"} & set(value):
            out.extend(_ranges(value, f"{name}."))
        else:
            out.append((name, value))
    return out


def _distribution(key: str, entry: Any, source: str) -> BaseDistribution:
    where = f"{source}: {key}"
    if not isinstance(entry, Mapping):
        raise ConfigError(
            f"{where}: expected a mapping such as {{low: 1.0e-4, high: 1.0e-2, log: true}} "
            f"or {{choices: [1, 2, 3]}}, got {entry!r}"
        )
    fields = set(entry)
    if "choices" in fields:
        if fields != {"choices"}:
            raise ConfigError(f"{where}: 'choices' takes no other field, got {sorted(fields)}")
        choices = entry["choices"]
        if not isinstance(choices, list | tuple) or not choices:
            raise ConfigError(f"{where}: 'choices' must be a non-empty list, got {choices!r}")
        for c in choices:
            if c is not None and not isinstance(c, bool | int | float | str):
                raise ConfigError(f"{where}: choice {c!r} is not a number, string or null")
        return CategoricalDistribution(list(choices))
    if not {"low", "high"} <= fields or not fields <= RANGE_KEYS:
        raise ConfigError(
            f"{where}: expected 'choices', or 'low' and 'high' with optional 'log' and "
            f"'step'; got {sorted(fields)}"
        )
    low, high = entry["low"], entry["high"]
    log, step = bool(entry.get("log", False)), entry.get("step")
    for name, value in (("low", low), ("high", high), ("step", step)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ConfigError(f"{where}: '{name}' must be a number, got {value!r}")
    if not low < high:
        raise ConfigError(f"{where}: expected low < high, got low={low!r}, high={high!r}")
    if log and low <= 0:
        raise ConfigError(f"{where}: a log range needs low > 0, got low={low!r}")
    if log and step is not None:
        raise ConfigError(f"{where}: 'log' and 'step' cannot be combined")
    if isinstance(low, int) and isinstance(high, int) and (step is None or isinstance(step, int)):
        return IntDistribution(low, high, log=log, step=step or 1)
    return FloatDistribution(float(low), float(high), log=log, step=step)


def check_keys(space: SearchSpace, config: Mapping[str, Any]) -> None:
    """Every key of ``space`` names an existing entry of ``config`` (a plain
    mapping of the composed configuration)."""
    for key in space.distributions:
        node: Any = config
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise ConfigError(
                    f"{space.source}: {key} is not a key of the composed configuration; "
                    "expected an existing key such as train.lr or model.num_layers "
                    "(see `gnnrec-train --cfg job`)"
                )
            node = node[part]


def as_overrides(params: Mapping[str, Any]) -> list[str]:
    """``key=value`` strings that reproduce ``params`` on the gnnrec-train command line."""
    return [f"{k}={_format(v)}" for k, v in params.items()]


def _format(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return repr(value)
    return str(value)
