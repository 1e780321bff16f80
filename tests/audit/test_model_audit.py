"""audit-model on checkpoints and modules: tables found, bytes exact, bad checkpoints rejected clearly."""
import pytest
import torch
from torchrec.modules.embedding_configs import EmbeddingBagConfig
from torchrec.modules.embedding_modules import EmbeddingBagCollection

from recsys_hash.audit.model_audit import audit_checkpoint, audit_module, audit_nn_module, total_bytes
from recsys_hash.errors import ArtifactError


def make_ebc():
    return EmbeddingBagCollection(tables=[
        EmbeddingBagConfig(name="user", embedding_dim=8, num_embeddings=100, feature_names=["user_id"]),
        EmbeddingBagConfig(name="item", embedding_dim=16, num_embeddings=50, feature_names=["item_id"]),
    ], device=torch.device("cpu"))


def test_audit_nn_module_lists_tables():
    rows = audit_nn_module(make_ebc())
    by = {r["table"]: r for r in rows}
    assert by["user"]["rows"] == 100 and by["user"]["dim"] == 8 and by["user"]["bytes"] == 3200
    assert by["item"]["bytes"] == 50 * 16 * 4 and by["item"]["features"] == ["item_id"]
    assert total_bytes(rows) == 3200 + 3200


def test_audit_checkpoint_pt_and_safetensors(tmp_path):
    from safetensors.torch import save_file

    state = {f"model.ebc.{k}": v for k, v in make_ebc().state_dict().items()}
    state["model.dense.weight"] = torch.zeros(4, 4)            # not an embedding table
    torch.save(state, tmp_path / "model.pt")
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "model.safetensors"))
    for name in ("model.pt", "model.safetensors"):
        rows = audit_checkpoint(tmp_path / name)
        assert sorted((r["table"], r["rows"], r["dim"]) for r in rows) == [("item", 50, 16), ("user", 100, 8)]


def test_audit_checkpoint_half_precision_bytes(tmp_path):
    torch.save({"ec.embeddings.t.weight": torch.zeros(10, 4, dtype=torch.float16)}, tmp_path / "m.pt")
    (row,) = audit_checkpoint(tmp_path / "m.pt")
    assert row["dtype"] == "float16" and row["bytes"] == 80


def test_checkpoint_without_tables_is_rejected(tmp_path):
    torch.save({"linear.weight": torch.zeros(3, 3)}, tmp_path / "m.pt")
    with pytest.raises(ArtifactError, match=r"has no embedding tables .* among 1 keys"):
        audit_checkpoint(tmp_path / "m.pt")


def test_corrupted_checkpoint_is_rejected(tmp_path):
    (tmp_path / "m.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(ArtifactError, match="is not a readable safetensors file"):
        audit_checkpoint(tmp_path / "m.safetensors")


def test_audit_module_spec_errors():
    with pytest.raises(ValueError, match="neither an existing checkpoint path nor"):
        audit_module("no_such_file.pt")
    with pytest.raises(ValueError, match="cannot import 'no_such_pkg.mod:f'"):
        audit_module("no_such_pkg.mod:f")
    with pytest.raises(ValueError, match="contains no EmbeddingBagCollection"):
        audit_module("torch.nn:Identity")


def test_audit_folder_with_remapper_artifacts_and_live_mc_module(tmp_path):
    import numpy as np

    from recsys_hash.ids import create
    from recsys_hash.integrations import make_mc_ebc

    ids = np.array([0, 1, 2, 3, 4, 5, 6, 7, 7, 7])
    remapper = create("modulo", num_rows=4).fit(ids)          # 8 distinct IDs on 4 rows: 2 per row
    mc_ebc = make_mc_ebc({"item": remapper}, embedding_dim=8)
    torch.save(mc_ebc.state_dict(), tmp_path / "model.pt")
    remapper.save(tmp_path / "item.remapper.safetensors")
    for rows in (audit_checkpoint(tmp_path), audit_nn_module(mc_ebc)):
        (row,) = rows
        assert (row["table"], row["rows"], row["dim"], row["bytes"], row["strategy"]) == ("item", 4, 8, 128, "modulo")
        assert not any(k.startswith("collision_") for k in row), sorted(row)
        coll = row["collisions"]
        assert coll["ids_per_row_max"] == 2 and coll["collision_rate"] == 1.0
        # ID 7 occurs 3 times and shares row 3 with ID 3: every occurrence lands on a shared row
        assert coll["weighted_collision_rate"] == 1.0 and coll["weighted_shared_row_rate"] == 1.0


def _factory_module(tmp_path, monkeypatch, body):
    (tmp_path / "audit_factories.py").write_text(body)
    monkeypatch.syspath_prepend(str(tmp_path))
    import sys

    sys.modules.pop("audit_factories", None)


def test_factory_returning_a_non_module_is_named(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"audit-model: 'os:getcwd' returned str, not a torch.nn.Module"):
        audit_module("os:getcwd")
    _factory_module(tmp_path, monkeypatch, "VALUE = 3\n")
    with pytest.raises(ValueError, match=r"audit-model: 'audit_factories:VALUE' returned int, not a torch.nn.Module"):
        audit_module("audit_factories:VALUE")


def test_factory_that_raises_is_named(tmp_path, monkeypatch):
    _factory_module(tmp_path, monkeypatch, "def boom():\n    raise RuntimeError('no weights here')\n"
                                           "def needs(arg):\n    return arg\n")
    with pytest.raises(ValueError, match=r"audit-model: factory 'audit_factories:boom' failed: "
                                         r"RuntimeError: no weights here"):
        audit_module("audit_factories:boom")
    with pytest.raises(ValueError, match=r"audit-model: factory 'audit_factories:needs' failed: TypeError: .*arg"):
        audit_module("audit_factories:needs")


def test_audit_model_cli_errors_are_one_line_and_json(tmp_path, monkeypatch):
    import json

    from typer.testing import CliRunner

    from recsys_hash.cli import app

    _factory_module(tmp_path, monkeypatch, "def boom():\n    raise RuntimeError('no weights here')\n")
    for target, msg in (("os:getcwd", "returned str, not a torch.nn.Module"),
                        ("audit_factories:boom", "failed: RuntimeError: no weights here")):
        res = CliRunner().invoke(app, ["audit-model", target, "--json"])
        assert res.exit_code == 1 and "Traceback" not in res.output, res.output
        err = json.loads(res.stdout.strip().splitlines()[-1])
        assert err["target"] == target and msg in err["error"] and err["error_type"] == "ValueError"


def test_audit_model_console_shows_interactions_on_shared_rows(tmp_path):
    """qr at 4 IDs per row keeps every (remainder, quotient) pair distinct, yet every interaction is on a shared row."""
    import json

    import numpy as np
    from typer.testing import CliRunner

    from recsys_hash.cli import app
    from recsys_hash.ids import create
    from recsys_hash.integrations import make_mc_ebc

    remapper = create("qr", num_rows=8).fit(np.arange(16))      # r = q = 4: 16 distinct pairs, 4 IDs per row
    torch.save(make_mc_ebc({"item": remapper}, embedding_dim=4).state_dict(), tmp_path / "model.pt")
    remapper.save(tmp_path / "item.remapper.safetensors")
    res = CliRunner().invoke(app, ["audit-model", str(tmp_path)])
    assert res.exit_code == 0, res.output
    header = " ".join(res.output.split())
    assert "interactions on shared rows" in header and "shared (weighted)" not in header
    (line,) = [ln for ln in res.output.splitlines() if " qr " in ln]
    assert "100.0%" in line and "0.0%" in line          # on shared rows 100%, indistinguishable 0%
    res = CliRunner().invoke(app, ["audit-model", str(tmp_path), "--json"])
    (table,) = json.loads(res.stdout.strip().splitlines()[-1])["tables"]
    assert table["collisions"]["weighted_shared_row_rate"] == 1.0 and table["collisions"]["collision_rate"] == 0.0
    assert table["collisions"]["ids_per_row_mean"] == 4.0


def test_training_checkpoint_is_read_through_its_checksum(tmp_path):
    """A recsys_hash training checkpoint: the model's tables once (not its snapshots), and a damaged file is refused."""
    from recsys_hash.models.trainer import save_checkpoint, snapshot

    model = torch.nn.Module()
    model.ebc = make_ebc()
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, "ctr_checkpoint", model, {}, {"epoch": 1}, {"best": snapshot(model)}, {"seed": 0})
    rows = audit_checkpoint(path)
    assert sorted((r["table"], r["rows"], r["key"]) for r in rows) == [
        ("item", 50, "ebc.embedding_bags.item.weight"), ("user", 100, "ebc.embedding_bags.user.weight")]
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01                                           # one bit of the last table's weights
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="failed its checksum"):
        audit_checkpoint(path)
