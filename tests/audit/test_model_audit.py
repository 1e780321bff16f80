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
