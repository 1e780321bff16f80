"""A long-sequence CTR model: the target item's embedding v, a sequence module's output h over the user's earlier
behaviours, and v ⊙ h (plus optional one-per-row context features) -> MLP -> logit.

Embeddings come from TorchRec `ManagedCollisionEmbeddingCollection`s (`make_mc_ec`) over one KJT, so item IDs can go
through any single-row remapper strategy. A behaviour's (and the target's) embedding is its item row plus, when the
data has one, its category row. The decoupled modules (dare, sdim_decoupled) read two collections of independent
dims over the same KJT: an attention table (search / hashing) and a representation table (v, h, the MLP).

    sequence_module  din | dot | sdim | twin | dare | sdim_decoupled   (see `recsys_hash.sequence`)

    >>> model = LongSeqCTR(SeqModelConfig(module="sdim", dim=16), {"item": item_remapper})
    >>> logits = model(dense, kjt)     # KJT keys target_item, hist_item (+ target_cate, hist_cate, context)

Auxiliary full-attention loss (twin / dare, on by default, as in the DARE authors' training scripts; `aux_loss=False`
turns it off): a second MLP of the same shape reads [v, h_full, v ⊙ h_full] (+ context), h_full being softmax
attention over ALL the behaviours instead of the top K. In training its logits (`pop_auxiliary_logits`) add a BCE term
of weight 1 to the loss, so every behaviour's attention row gets a gradient, not only the K the search kept.
Prediction never uses it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional

import torch
from torch import nn
from torchrec.sparse.jagged_tensor import JaggedTensor, KeyedJaggedTensor

from recsys_hash.integrations.collections import make_mc_ec
from recsys_hash.models.ctr import EMB_INIT_STD
from recsys_hash.sequence import DARE, SDIM, TWIN, DINAttention, DotTargetAttention, JaggedSeq

SEQUENCE_MODULES = ("din", "dot", "sdim", "twin", "dare", "sdim_decoupled")
DECOUPLED = ("dare", "sdim_decoupled")
#: modules whose search keeps K behaviours: the auxiliary full-attention loss applies to them
AUX_MODULES = ("twin", "dare")
SEQUENCE_TABLES = {"item": ("target_item", "hist_item"), "cate": ("target_cate", "hist_cate")}


@dataclass
class SeqModelConfig:
    """Model settings. att_dim: attention-table dim of the decoupled modules (None -> dim // 2, DARE's cheaper
    search); k: behaviours kept by TWIN/DARE's search; m, tau, hash_seed: SDIM's SimHash; aux_loss: twin / dare
    also train an auxiliary full-attention head (see the module doc; None = on for twin and dare, off otherwise)."""

    module: str = "sdim"
    dim: int = 16
    att_dim: Optional[int] = None
    k: int = 20
    m: int = 48
    tau: int = 3
    hash_seed: int = 0
    hidden: tuple[int, ...] = (200, 80)
    din_hidden: tuple[int, ...] = (80, 40)
    aux_loss: Optional[bool] = None

    def __post_init__(self) -> None:
        if self.module not in SEQUENCE_MODULES:
            raise ValueError(f"unknown sequence module {self.module!r}; choose one of {', '.join(SEQUENCE_MODULES)}")
        if self.aux_loss is None:
            self.aux_loss = self.module in AUX_MODULES
        if not isinstance(self.aux_loss, bool):
            raise ValueError(f"aux_loss must be True, False or None (the module's default), got {self.aux_loss!r}")
        if self.aux_loss and self.module not in AUX_MODULES:
            raise ValueError(f"aux_loss (the auxiliary full-attention loss) is for the top-K modules "
                             f"{' / '.join(AUX_MODULES)}, not {self.module!r}")
        if self.dim < 1 or (self.att_dim is not None and self.att_dim < 1):
            raise ValueError(f"dim and att_dim must be >= 1, got dim={self.dim}, att_dim={self.att_dim}")
        self.hidden, self.din_hidden = tuple(self.hidden), tuple(self.din_hidden)

    @property
    def attention_dim(self) -> int:
        return self.att_dim if self.att_dim is not None else max(self.dim // 2, 1)


def _sequence_module(cfg: SeqModelConfig) -> nn.Module:
    d = cfg.dim
    if cfg.module == "din":
        return DINAttention(d, cfg.din_hidden)
    if cfg.module == "dot":
        return DotTargetAttention(d)
    if cfg.module == "sdim":
        return SDIM(d, cfg.m, cfg.tau, cfg.hash_seed)
    if cfg.module == "sdim_decoupled":
        return SDIM(cfg.attention_dim, cfg.m, cfg.tau, cfg.hash_seed)
    if cfg.module == "twin":
        return TWIN(d, cfg.k)
    return DARE(cfg.attention_dim, d, cfg.k)


def _mlp(width: int, hidden: tuple[int, ...]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(width, h), nn.PReLU()]
        width = h
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


def _one_per_row(jt: JaggedTensor, key: str) -> torch.Tensor:
    lengths = jt.lengths()
    if lengths.numel() and (int(lengths.min()) != 1 or int(lengths.max()) != 1):
        row = int(torch.nonzero(lengths != 1)[0, 0])
        raise ValueError(f"LongSeqCTR: feature {key!r} needs exactly one value per row, row {row} has "
                         f"{int(lengths[row])}")
    return jt.values()


class LongSeqCTR(nn.Module):
    """forward(dense [B, 0] (ignored), KJT) -> logits [B].

    Args:
        config: SeqModelConfig.
        tables: "item" (required) and optionally "cate" -> fitted single-row IdRemapper; any other name is a context
            feature with one value per row, fed to the MLP (its KJT key is the table name).
    """

    def __init__(self, config: SeqModelConfig, tables: Mapping[str, Any]) -> None:
        super().__init__()
        if "item" not in tables:
            raise ValueError(f"LongSeqCTR: tables need an 'item' remapper, got {sorted(tables)}")
        self.config, self.kind = config, f"seq-{config.module}"
        self.seq_tables = [t for t in SEQUENCE_TABLES if t in tables]
        self.context = [t for t in tables if t not in SEQUENCE_TABLES]
        names = {t: list(SEQUENCE_TABLES.get(t, (t,))) for t in tables}
        self.repr_ec = make_mc_ec(dict(tables), config.dim, feature_names=names)
        self.att_ec = None
        if config.module in DECOUPLED:
            self.att_ec = make_mc_ec({t: tables[t] for t in self.seq_tables}, config.attention_dim,
                                     feature_names={t: names[t] for t in self.seq_tables})
        for ec in (self.repr_ec, self.att_ec):
            if ec is not None:
                for table in ec._embedding_module.embeddings.values():
                    nn.init.normal_(table.weight, 0.0, EMB_INIT_STD)
        self.sequence = _sequence_module(config)
        width = 3 * config.dim + config.dim * len(self.context)
        self.mlp = _mlp(width, config.hidden)
        self.aux_mlp = _mlp(width, config.hidden) if config.aux_loss else None
        self._aux_logits: Optional[torch.Tensor] = None

    def _embed(self, ec, kjt: KeyedJaggedTensor) -> tuple[torch.Tensor, JaggedSeq, dict[str, JaggedTensor]]:
        """(target [B, d], behaviours JaggedSeq [N, d], all outputs) summed over the item (+ category) tables."""
        out, _ = ec(kjt)
        target = _one_per_row(out["target_item"], "target_item")
        hist = out["hist_item"]
        values = hist.values()
        if "cate" in self.seq_tables:
            if not torch.equal(out["hist_cate"].lengths(), hist.lengths()):
                raise ValueError("LongSeqCTR: hist_cate must give one category per hist_item behaviour "
                                 "(their lengths differ)")
            target = target + _one_per_row(out["target_cate"], "target_cate")
            values = values + out["hist_cate"].values()
        return target, JaggedSeq.of(values, hist.lengths(), "hist_item"), out

    def forward(self, dense: torch.Tensor, features: KeyedJaggedTensor) -> torch.Tensor:
        target, seq, out = self._embed(self.repr_ec, features)
        h_full = None
        aux = self.aux_mlp is not None and self.training
        if self.att_ec is None:
            h = self.sequence(seq, target)
            if aux:
                h_full = self.sequence.full_attention(seq, target)
        else:
            t_att, seq_att, _ = self._embed(self.att_ec, features)
            if isinstance(self.sequence, DARE):
                h = self.sequence(seq_att, t_att, seq.values)
                if aux:
                    h_full = self.sequence.full_attention(seq_att, t_att, seq.values)
            else:
                h = self.sequence(seq_att, t_att, sum_values=seq)
        ctx = [_one_per_row(out[c], c) for c in self.context]
        self._aux_logits = (None if h_full is None else
                            self.aux_mlp(torch.cat([target, h_full, target * h_full, *ctx], dim=1)).reshape(-1))
        return self.mlp(torch.cat([target, h, target * h, *ctx], dim=1)).reshape(-1)

    def pop_auxiliary_logits(self) -> Optional[torch.Tensor]:
        """The auxiliary head's logits [B] of the last training forward (None without aux_loss, in eval mode, or
        once taken): the trainer adds their BCE to the loss."""
        out, self._aux_logits = self._aux_logits, None
        return out

    def embedding_parameters(self) -> list[nn.Parameter]:
        return [p for ec in (self.repr_ec, self.att_ec) if ec is not None for p in ec.parameters()]

    def dense_parameters(self) -> list[nn.Parameter]:
        emb = {id(p) for p in self.embedding_parameters()}
        return [p for p in self.parameters() if id(p) not in emb]

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
