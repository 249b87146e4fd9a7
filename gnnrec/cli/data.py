"""``gnnrec-data``: inspect, prepare and export datasets from the Hydra config tree.

Usage::

    gnnrec-data [COMMAND] [--option VALUE ...] [key=value ...]

The command is the first positional argument (or ``command=...``); the
``key=value`` arguments are Hydra overrides of ``conf/data.yaml``, which
composes the same ``dataset`` and ``split`` groups as ``gnnrec-train``. Errors
caused by input (files, config, arguments) print ``gnnrec-data: error: ...``
and exit with status 2.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_module
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from gnnrec.cli.common import load_data, make_split
from gnnrec.data.dataset import InteractionDataset
from gnnrec.data.export import export_recbole, recbole_config
from gnnrec.data.registry import REGISTRY, is_fetched, raw_dir
from gnnrec.data.split import Split
from gnnrec.data.stats import category_table, dataset_stats, domain_table, split_stats
from gnnrec.errors import ConfigError, GnnrecError

log = logging.getLogger("gnnrec")

PROG = "gnnrec-data"
COMMANDS = {
    "stats": "dataset and split statistics (sizes, quantiles, categories, cross-category share)",
    "prepare": "download a registered dataset if needed and build its cache",
    "export": "write the split for other frameworks (--format recbole | gnnrec, --out DIR)",
    "list": "registered datasets, where they come from and whether they are here",
}
OPTIONS = {
    "--format": "format",
    "--out": "out",
    "--top": "top",
    "--cache-dir": "cache_dir",
}
FLAGS = {"--json": "json=true", "--no-cache": "cache=false", "--offline": "download=false"}

USAGE = f"""usage: {PROG} [COMMAND] [OPTIONS] [key=value ...]

Inspect, prepare and export datasets. Configuration is composed from conf/data.yaml
with the same dataset/ and split/ groups as gnnrec-train; key=value arguments are
Hydra overrides (dataset=ml-1m, split=leave_one_out, dataset.min_rating=3, ...).

commands:
{chr(10).join(f"  {name:<9}{text}" for name, text in COMMANDS.items())}
  (default: stats; `command=NAME` works too)

options:
  --format FMT     export format: recbole (default) or gnnrec       (format=FMT)
  --out DIR        export folder (default exports/<dataset name>)  (out=DIR)
  --top N          stats: category rows shown at top and tail      (top=N)
  --json           stats/prepare: print JSON                       (json=true)
  --no-cache       build the dataset without the cache             (cache=false)
  --cache-dir DIR  cache root (default $GNNREC_CACHE or ~/.cache/gnnrec)
  --offline        never download; say where to put files instead  (download=false)
  -h, --help       this help; `--cfg job` prints the composed config

examples:
  {PROG} stats dataset=ml-100k
  {PROG} stats dataset=ml-100k split=leave_one_out --top 5
  {PROG} prepare dataset=ml-1m
  {PROG} export --format recbole --out exports/ml-100k dataset=ml-100k split=random
  {PROG} list
"""


def parse_args(argv: Sequence[str]) -> tuple[list[str], bool]:
    """Hydra overrides from the command line, and whether to print the config.

    Raises:
        ConfigError: an unknown command or option, an option without value.
    """
    overrides: list[str] = []
    show_cfg = False
    command: str | None = None
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        key, eq, value = arg.partition("=")
        if arg in FLAGS:
            overrides.append(FLAGS[arg])
        elif key in OPTIONS:
            if not eq:
                if i + 1 >= len(args):
                    raise ConfigError(f"{arg} needs a value")
                i += 1
                value = args[i]
            overrides.append(f"{OPTIONS[key]}={value}")
        elif arg == "--cfg":
            if i + 1 < len(args) and args[i + 1] == "job":
                i += 1
            show_cfg = True
        elif arg.startswith("-"):
            raise ConfigError(f"unknown option {arg} (see {PROG} --help)")
        elif not eq and command is None:
            command = arg
        elif not eq:
            raise ConfigError(f"unexpected argument {arg!r}; overrides are key=value")
        else:
            overrides.append(arg)
        i += 1
    if command is not None:
        if command not in COMMANDS:
            raise ConfigError(f"unknown command {command!r}; expected one of {', '.join(COMMANDS)}")
        overrides.insert(0, f"command={command}")
    return overrides, show_cfg


def compose_config(overrides: Sequence[str]) -> DictConfig:
    """``conf/data.yaml`` with ``overrides`` applied (Hydra's compose API)."""
    try:
        with initialize_config_module(config_module="gnnrec.conf", version_base="1.3"):
            return compose(config_name="data", overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as err:
        message = str(err).strip().splitlines()[0]
        for group in ("dataset", "split"):
            if f"'{group}/" in message:
                message += f" (available {group}s: {', '.join(config_names(group))})"
        raise ConfigError(message) from None


def config_names(group: str) -> list[str]:
    """The choices of a config group (the YAML files in ``conf/<group>``)."""
    folder = resources.files("gnnrec.conf") / group
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load(cfg: DictConfig) -> tuple[InteractionDataset, float]:
    """The configured dataset (via registry and cache when it is a load_dataset
    config) and the seconds it took."""
    started = time.perf_counter()
    dataset = load_data(cfg)
    return dataset, time.perf_counter() - started


# --------------------------------------------------------------------------- commands


def _fmt(value: float) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return "-"
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.4f}"


def stats_text(dataset: InteractionDataset, split: Split, top: int, seconds: float) -> str:
    """The report of ``gnnrec-data stats``."""
    d: dict[str, Any] = dataset_stats(dataset)
    s: dict[str, Any] = split_stats(split)
    lines = [f"dataset {dataset.name} (loaded in {seconds:.2f} s)"]
    for key in ("users", "items", "categories", "interactions"):
        lines.append(f"  {key:<14}{_fmt(d[key]):>14}")
    lines.append(f"  {'density':<14}{d['density']:>14.6f}")
    lines.append(
        f"  categories per item {d['categories_per_item']:.2f}; multi-label items "
        f"{d['multi_label_items']:,}; items without category {d['items_without_category']:,}"
    )
    for what in ("interactions_per_user", "interactions_per_item"):
        q = d[what]
        lines.append(
            f"  {what.replace('_', ' ')}: " + "  ".join(f"{k} {_fmt(v)}" for k, v in q.items())
        )
    rows: list[dict[str, Any]] = category_table(dataset)
    if rows:
        lines.append("")
        lines.append(f"category frequency ({len(rows)} categories; share of interactions)")
        lines.append(f"  {'category':<32}{'items':>10}{'interactions':>14}{'share':>9}")
        shown = rows if len(rows) <= 2 * top else [*rows[:top], None, *rows[-top:]]
        for row in shown:
            if row is None:
                lines.append(f"  {'...':<32}")
                continue
            lines.append(
                f"  {row['category'][:31]:<32}{row['items']:>10,}{row['interactions']:>14,}"
                f"{row['share']:>9.2%}"
            )
    for column, title in (("domain", "domains"), ("behavior", "behaviours")):
        rows = domain_table(dataset, column)
        if not rows:
            continue
        lines.append("")
        lines.append(f"{title} ({len(rows)})")
        lines.append(f"  {column:<32}{'users':>10}{'items':>10}{'interactions':>14}")
        for row in rows:
            lines.append(
                f"  {str(row[column])[:31]:<32}{row['users']:>10,}{row['items']:>10,}"
                f"{row['interactions']:>14,}"
            )
    lines.append("")
    lines.append(f"split {s['method']}" + (f" (seed {s['seed']})" if s["seed"] is not None else ""))
    for part in ("train", "valid", "test"):
        lines.append(f"  {part:<8}{s[part]:>12,} interactions  {s[f'{part}_users']:>10,} users")
    if s["dropped"]:
        lines.append(f"  {'dropped':<8}{s['dropped']:>12,} interactions (cold users)")
    for part in ("valid", "test"):
        share = s[f"{part}_cross_category_share"]
        lines.append(
            f"  {part} interactions that are cross-category: {s[f'{part}_cross_category']:,} "
            f"({_fmt(share * 100) if math.isfinite(share) else '-'}%); "
            f"with items never seen in train: {s[f'{part}_cold_items']:,}"
        )
    return "\n".join(lines)


def run_stats(cfg: DictConfig) -> None:
    dataset, seconds = load(cfg)
    split = make_split(cfg, dataset)
    if cfg.json:
        out = {
            "dataset": dataset_stats(dataset),
            "categories": category_table(dataset),
            "domains": domain_table(dataset),
            "behaviours": domain_table(dataset, "behavior"),
            "split": split_stats(split),
            "load_seconds": seconds,
        }
        print(json.dumps(out, indent=2, default=float))
    else:
        print(stats_text(dataset, split, int(cfg.top), seconds))


def run_prepare(cfg: DictConfig) -> None:
    dataset, seconds = load(cfg)
    warm = load(cfg)[1] if cfg.cache else math.nan
    facts = {
        "dataset": dataset.name,
        "interactions": dataset.num_interactions,
        "first_load_s": round(seconds, 3),
        "cached_load_s": round(warm, 3) if cfg.cache else None,
    }
    if cfg.json:
        print(json.dumps(facts, indent=2))
    else:
        print(f"{dataset!r}")
        print(f"first load {seconds:.2f} s" + (f", from cache {warm:.2f} s" if cfg.cache else ""))


def run_export(cfg: DictConfig) -> None:
    dataset, _ = load(cfg)
    split = make_split(cfg, dataset)
    out = Path(cfg.out) if cfg.out else Path("exports") / dataset.name
    fmt = str(cfg.format)
    if fmt == "recbole":
        paths = export_recbole(split, out)
        print(f"wrote {', '.join(str(p) for p in paths)}")
        print(f"RecBole: data_path={out.parent} and\n{recbole_config(dataset.name)}", end="")
    elif fmt == "gnnrec":
        split.save(out)
        print(f"wrote split {split.method} to {out}")
        print(f"read it back with: split=predefined split.folder={out}")
    else:
        raise ConfigError(f"format must be recbole or gnnrec, got {fmt!r}")


def run_list(cfg: DictConfig) -> None:
    rows = []
    for name, src in REGISTRY.items():
        if src.bundled:
            where = "bundled"
        elif is_fetched(name, cfg.cache_dir):
            where = f"fetched ({raw_dir(name, cfg.cache_dir)})"
        else:
            pinned = all(d.sha256 for d in src.downloads)
            where = "not fetched" + ("" if pinned else " (sha256 not pinned)")
        rows.append(f"  {name:<33} {where:<32} {src.description}")
    print("registered datasets (dataset=<name>):")
    print("\n".join(rows))


RUNNERS = {"stats": run_stats, "prepare": run_prepare, "export": run_export, "list": run_list}


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point of ``gnnrec-data``; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in args):
        print(USAGE, end="")
        return 0
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        overrides, show_cfg = parse_args(args)
        cfg = compose_config(overrides)
        if show_cfg:
            print(OmegaConf.to_yaml(cfg), end="")
            return 0
        command = str(cfg.command)
        if command not in RUNNERS:
            raise ConfigError(f"unknown command {command!r}; expected one of {', '.join(COMMANDS)}")
        RUNNERS[command](cfg)
    except GnnrecError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
