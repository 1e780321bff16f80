"""Long behaviour sequences as TorchRec-fed modules: DIN / dot target attention, SDIM (+ BSE serving tables),
TWIN and DARE two-stage attention, and decoupled SDIM (SDIM hashing DARE's attention table). Inputs are jagged
embeddings from an EmbeddingCollection over a KJT (`JaggedSeq`)."""
from recsys_hash.sequence.attention import DINAttention, DotTargetAttention, masked_softmax
from recsys_hash.sequence.jagged import JaggedSeq, check_jagged
from recsys_hash.sequence.sdim import SDIM, SimHash
from recsys_hash.sequence.topk import DARE, TWIN, topk_search

__all__ = ["DARE", "DINAttention", "DotTargetAttention", "JaggedSeq", "SDIM", "SimHash", "TWIN", "check_jagged",
           "masked_softmax", "topk_search"]
