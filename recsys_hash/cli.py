"""`recsys-hash` command line: a typer app that only wires the command modules in `recsys_hash.commands`."""
from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="recsys-hash",
    help="Compressed embedding tables for TorchRec: remappers, GraphHash, recall evaluation, compression audits.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Each command module exposes `register(app)`; this tuple is the CLI's table of contents.
COMMAND_MODULES = ("datasets", "recall", "audit", "train_ctr", "train_seq")

for _name in COMMAND_MODULES:
    importlib.import_module(f"recsys_hash.commands.{_name}").register(app)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
