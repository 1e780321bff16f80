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
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from recsys_hash import __version__

        typer.echo(f"recsys-hash {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """Compressed embedding tables for TorchRec: remappers, GraphHash, recall evaluation, compression audits."""


# Each command module exposes `register(app)`; this tuple is the CLI's table of contents.
COMMAND_MODULES = ("datasets", "strategies", "recall", "audit", "train_ctr", "train_seq", "block")

for _name in COMMAND_MODULES:
    importlib.import_module(f"recsys_hash.commands.{_name}").register(app)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
