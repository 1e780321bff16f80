"""`recsys-hash block`: run one blocking method on an ER benchmark (tableB queries tableA) and report PC, PQ, RR,
F1 and the candidate count; with --json the last stdout line is one JSON object."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from recsys_hash.commands import _options as opt
from recsys_hash.commands._output import emit, guard, parse_list


def block_cmd(
    dataset: Optional[str] = typer.Option(None, "--dataset", help="Registered ER benchmark: abt_buy, amazon_google, "
                                          "dblp_acm, febrl4 (with --dataset-path: read from that folder)."),
    dataset_path: Optional[Path] = typer.Option(None, "--dataset-path", help="A folder in the Magellan layout "
                                                "(tableA.csv, tableB.csv, train/valid/test.csv)."),
    method: str = typer.Option("nlsh", "--method", help="tfidf | minhash | sorted_neighbourhood | minilm | nlsh | "
                               "nlsh_minilm | hybrid (TF-IDF + weight x NLSH char-n-gram cosine, rank-merged with the TF-IDF ranking)."),
    k: int = typer.Option(5, "--k", help="Candidates per tableB record (minhash: best k of the LSH's; sorted "
                          "neighbourhood: window 2k+1)."),
    seed: str = opt.seed_option(plural=False),
    attributes: Optional[str] = typer.Option(None, "--attributes", help="Comma-separated columns to serialise "
                                             "(default: all but id)."),
    index: Optional[str] = typer.Option(None, "--index", help="nlsh / nlsh_minilm / minilm: exact | simhash."),
    tables: Optional[str] = typer.Option(None, "--tables", help="--index simhash: hash tables L, an integer or auto "
                                         "(default auto: enough tables to keep recall at the chosen bits)."),
    bits: Optional[str] = typer.Option(None, "--bits", help="--index simhash: bits per table b, an integer or auto "
                                       "(default auto: the smallest b whose self-probe estimate of the scored "
                                       "fraction is <= --target-fraction)."),
    target_fraction: Optional[float] = typer.Option(None, "--target-fraction", help="--index simhash with --bits "
                                                    "auto: share of the pairs to score at most (default 0.15)."),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="NLSH training epochs (default: the method's)."),
    learn: Optional[str] = typer.Option(None, "--learn", help="nlsh / hybrid char-n-gram encoder: both (default: "
                                        "per-n-gram weights + a shared function of n-gram descriptors) | weights | "
                                        "features | table."),
    weight: Optional[str] = typer.Option(None, "--weight", help="hybrid: the NLSH cosine's weight, a number >= 0 "
                                         "(default 1; 0 = TF-IDF alone) or auto (chosen on a slice of the train "
                                         "split's matches)."),
    fusion: Optional[str] = typer.Option(None, "--fusion", help="hybrid: rank (default: the fused and "
                                         "the TF-IDF rankings read in turn, so the top-k holds TF-IDF's top "
                                         "floor(k/2)) | score (the fused score's top-k)."),
    threshold: float = typer.Option(0.1, "--threshold", help="minhash: the LSH Jaccard threshold."),
    gold: str = typer.Option("splits", "--gold", help="splits (all labelled positives) | full (matches_full_gold.csv)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write the candidate pairs here (CSV ltable_id,rtable_id)."),
    threads: Optional[int] = opt.THREADS,
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Training progress bar on stderr."),
    as_json: bool = opt.JSON,
) -> None:
    """Block one ER benchmark with METHOD: tableB records query tableA; gold = all labelled positives."""

    def run() -> dict:
        from recsys_hash.blocking.blocker import blocker_names
        from recsys_hash.blocking.evaluate import evaluate_blocker
        from recsys_hash.blocking.index import check_k
        from recsys_hash.data.er import load_er, read_magellan
        from recsys_hash.eval.timing import torch_threads

        if dataset is None and dataset_path is None:
            raise ValueError("give --dataset NAME or --dataset-path DIR")
        if method not in blocker_names():
            raise ValueError(f"--method {method!r}: known methods: {', '.join(blocker_names())}")
        check_k(k, "--k")
        seed_value = opt.only_one(opt.parse_seeds(seed, "--seed"), "seed", "block", "")
        params: dict = {}
        if attributes:
            params["attributes"] = parse_list(attributes, what="--attributes")
        if method in ("nlsh", "nlsh_minilm", "minilm", "hybrid"):
            params["progress"] = progress
            if index is not None and method != "hybrid":
                params["index"] = index
            if epochs is not None and method != "minilm":
                params["epochs"] = epochs
        if learn is not None:
            if method not in ("nlsh", "hybrid"):
                raise ValueError("--learn: only for --method nlsh / hybrid (the char-n-gram encoder)")
            params["learn"] = learn
        params.update(_simhash_params(method, params.get("index"), tables, bits, target_fraction))
        params.update(_hybrid_params(method, weight, fusion))
        if method == "minhash":
            params["threshold"] = threshold
        if dataset is not None:
            er = load_er(dataset, dataset_path, gold=gold)
        else:
            er = read_magellan(dataset_path, Path(dataset_path).name, gold=gold)
        gold_name = "all labelled positives" if gold == "splits" else "matches_full_gold.csv"
        with torch_threads(threads):
            res = evaluate_blocker(er, method, [k], seed=seed_value, gold_name=gold_name, **params)
        res.update(res.pop("by_k")[str(k)], k=k)
        if out is not None:
            _write_pairs(out, er, method, k, seed_value, params)
        return res

    result = guard(run, as_json)

    def render(c: Console) -> None:
        t = Table(title=f"{result['dataset']}: {result['method']}, k={result['k']} ({result['query_side']}; "
                        f"gold: {result['gold']})")
        t.add_column("metric")
        t.add_column("value", justify="right")
        for key in ("pc", "pc_test", "pq", "rr", "f1", "candidates", "gold_pairs", "fit_s", "query_s", "tables", "bits",
                    "estimated_fraction", "scored_fraction"):
            v = result.get(key)
            if v is not None:
                t.add_row(key, f"{v:.4f}" if isinstance(v, float) else str(v))
        c.print(t)
        c.print(f"training: {result['train']}", highlight=False)

    emit(result, as_json, render)


def _simhash_params(method: str, index: Optional[str], tables: Optional[str], bits: Optional[str],
                    target_fraction: Optional[float]) -> dict:
    """--tables / --bits ("auto" or an integer) and --target-fraction, which only the SimHash index reads."""
    given = {"tables": tables, "bits": bits, "target_fraction": target_fraction}
    given = {key: v for key, v in given.items() if v is not None}
    if not given:
        return {}
    if method not in ("nlsh", "nlsh_minilm") or index != "simhash":
        flags = ", ".join("--" + key.replace("_", "-") for key in given)
        raise ValueError(f"{flags}: only for --method nlsh / nlsh_minilm with --index simhash")
    for key in ("tables", "bits"):
        if key in given:
            given[key] = _number_or_auto(key, given[key], int, "an integer")
    return given


def _hybrid_params(method: str, weight: Optional[str], fusion: Optional[str]) -> dict:
    """--weight ("auto" or a number) and --fusion, which only the hybrid reads (the blocker checks the values)."""
    given = {key: v for key, v in (("weight", weight), ("fusion", fusion)) if v is not None}
    if given and method != "hybrid":
        raise ValueError(f"{', '.join('--' + key for key in given)}: only for --method hybrid")
    if "weight" in given:
        given["weight"] = _number_or_auto("weight", given["weight"], float, "a number >= 0")
    return given


def _number_or_auto(key: str, text: str, cast, what: str):
    """An option's text as "auto" or `cast(text)`; ValueError naming --key and `what` it must be otherwise."""
    if text == "auto":
        return text
    try:
        return cast(text)
    except ValueError:
        raise ValueError(f"--{key} must be {what} or auto, got {text!r}") from None


def _write_pairs(path: Path, er, method: str, k: int, seed: int, params: dict) -> None:
    """Refit and write the candidates (the evaluation keeps no blocker around); CSV with a header."""
    import numpy as np

    from recsys_hash.blocking.blocker import make_blocker
    from recsys_hash.blocking.evaluate import train_split

    b = make_blocker(method, seed=seed, **params)
    train, _, _ = train_split(er, seed)
    b.fit(er.table_a, context=[er.table_b], **(dict(train=train, table_b=er.table_b) if b.supervised else {}))
    pairs = b.candidates(er.table_b, k)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, pairs, fmt="%d", delimiter=",", header="ltable_id,rtable_id", comments="")


def register(app: typer.Typer) -> None:
    app.command("block")(block_cmd)
