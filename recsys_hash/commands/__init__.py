"""CLI subcommands, one module per command group; `recsys_hash.cli` only wires them."""
