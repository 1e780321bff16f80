"""Options `recall` and `audit` share: one spelling, one default and one parser each.

Plural spellings take comma lists (`--strategies a,b`); `recall` runs one of each and accepts either spelling.
"""
from __future__ import annotations

import json
import types
import typing
from pathlib import Path
from typing import Any, Optional

import typer

from recsys_hash.audit.evaluators import DEFAULT_EPOCHS  # maximum epochs, the same in every command
from recsys_hash.budget import BUDGET_RULE, parse_budget
from recsys_hash.commands._output import parse_list

DATASET = typer.Option(None, "--dataset", help="Registered interaction set (gowalla, ml-1m, ml-100k, lastfm, ...); "
                       "with --dataset-path its folder is read from there, in NAME's registered format.")
DATASET_PATH = typer.Option(None, "--dataset-path", help="Read the data from this folder: in --dataset NAME's format, "
                            "or alone a folder in the LightGCN line format (train.txt, test.txt: `uid item item ...`).")
BUDGET_HELP = f"Rows per side: {BUDGET_RULE} ('1' = the full table, '2' = two rows)."
PARAM = typer.Option([], "--param", help="Strategy parameter KEY=VALUE (repeatable; JSON values, else text), e.g. "
                     "--param cluster_share=0.25 for graphhash. `recsys-hash strategies` lists them.")
LR = typer.Option("0.005", "--lr", help="Learning rate(s); a list is a tuning grid (x --reg), best on validation.")
REG = typer.Option("0.0001", "--reg", help="L2 regularisation(s) on the batch's ego embeddings.")
EPOCHS = typer.Option(DEFAULT_EPOCHS, "--epochs", help="Maximum epochs (early stopping on validation Recall@20).")
THREADS = typer.Option(None, "--threads", help="torch threads (default: torch's choice).")
DISTRIBUTED = typer.Option(False, "--distributed", help="Shard the tables over the processes of a torchrun group "
                           "(gloo on CPU, NCCL on GPUs); only rank 0 prints and saves. See README 'Distributed "
                           "training'.")
SHARDING = typer.Option("row_wise", "--sharding", help="With --distributed: row_wise (rows of every table split over "
                        "the ranks) | table_wise (whole tables placed round-robin).")
JSON = typer.Option(False, "--json", help="Print one JSON object as the last stdout line (tables then go to stderr).")


def strategy_option(default: str, plural: bool) -> Any:
    names = ("--strategies", "--strategy") if plural else ("--strategy", "--strategies")
    what = "Comma-separated ID strategies" if plural else "ID strategy"
    return typer.Option(default, *names, help=f"{what} (`recsys-hash strategies` lists them).")


def budget_option(default: str, plural: bool) -> Any:
    names = ("--budgets", "--budget") if plural else ("--budget", "--budgets")
    return typer.Option(default, *names, help=("Comma-separated budgets. " if plural else "") + BUDGET_HELP)


def seed_option(plural: bool) -> Any:
    names = ("--seeds", "--seed") if plural else ("--seed", "--seeds")
    help_ = ("Comma-separated seeds (>= 0); quality is reported as mean ± std." if plural else
             "Seed (>= 0) of the strategy, the split's validation carve-out and training.")
    return typer.Option("0", *names, help=help_)


def parse_budgets(text: str, what: str = "--budgets") -> list:
    """'0.25,0.1,5000' -> [0.25, 0.1, 5000] under the one budget rule (`recsys_hash.budget`)."""
    return parse_list(text, parse_budget, what)


def parse_seed(text: str) -> int:
    """'3' -> 3; a negative or non-integer seed is a ValueError."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"seed {text!r} must be a whole number >= 0")
    return value


def parse_seeds(text: str, what: str = "--seeds") -> list[int]:
    """'0,1,2' -> [0, 1, 2]; a negative or non-integer seed is a ValueError naming the option."""
    return parse_list(text, parse_seed, what)


def only_one(values: list, noun: str, command: str = "recall",
             instead: str = "; use `recsys-hash audit` to compare several") -> Any:
    """A command that runs one strategy / budget / seed accepts the plural spellings with a single value."""
    if len(values) != 1:
        raise ValueError(f"{command} runs one {noun}{instead}")
    return values[0]


PY_CONSTANTS = {"True": True, "False": False, "None": None}


def parse_params(items: list[str]) -> dict:
    """["cluster_share=0.25", "oov=hash"] -> {"cluster_share": 0.25, "oov": "hash"} (JSON values, else strings;
    Python's True / False / None are read as JSON's true / false / null)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--param {item!r}: expected KEY=VALUE")
        if value.strip() in PY_CONSTANTS:
            out[key.strip()] = PY_CONSTANTS[value.strip()]
            continue
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def check_param_types(strategy: str, params: dict) -> None:
    """Raise ValueError naming a --param whose value is not of the type strategy's constructor declares."""
    from recsys_hash.ids import get_strategy

    try:
        hints = typing.get_type_hints(get_strategy(strategy).__init__)
    except Exception:  # an annotation that does not resolve: leave the check to the constructor
        return
    for key, value in params.items():
        allowed = _accepted_types(hints.get(key))
        if allowed and not any(_is(value, t) for t in allowed):
            names = " or ".join("null" if t is type(None) else t.__name__ for t in allowed)
            raise ValueError(f"--param {key}={value!r}: strategy {strategy!r} expects {names} for {key}")


_SIMPLE = (int, float, str, bool, type(None))


def _accepted_types(hint: Any) -> tuple:
    """int / float / str / bool / None types a hint allows (Optional and Union unpacked); () when not that simple."""
    if hint is None:
        return ()
    args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    return tuple(args) if all(a in _SIMPLE for a in args) else ()


def _is(value: Any, kind: type) -> bool:
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind) if kind is not type(None) else value is None


def params_per_strategy(strategies: list[str], params: dict) -> dict[str, dict]:
    """Give each strategy the --param keys it takes; a key no listed strategy takes is a ValueError."""
    from recsys_hash.ids.registry import strategy_params

    out: dict[str, dict] = {}
    for name in strategies:
        takes = strategy_params(name)
        out[name] = {k: v for k, v in params.items() if k in takes}
        check_param_types(name, out[name])
    for key in params:
        if not any(key in p for p in out.values()):
            raise ValueError(f"--param {key}: no audited strategy takes it ({', '.join(strategies)})")
    return out



def distributed_context(distributed: bool) -> Any:
    """The torchrun group this process joins with --distributed (None without it)."""
    if not distributed:
        return None
    from recsys_hash.distributed import init_from_env

    return init_from_env()


def emit_main(ctx: Any, result: Any, as_json: bool, render: Any) -> None:
    """`emit` on rank 0 only (every rank of a distributed run computes the same result)."""
    from recsys_hash.commands._output import emit

    if ctx is None or ctx.is_main:
        emit(result, as_json, render)
