"""`RemapperMCModule`: any fitted IdRemapper as a TorchRec `ManagedCollisionModule`.

The whole raw-ID -> row mapping happens in `preprocess`: in eager mode on CPU it runs the remapper's own
numpy/numba kernels on zero-copy views (the same code as `transform`, so equal by construction), large batches
split over `torch.get_num_threads()` threads so the remap scales with the EBC (rows identical at any thread
count); scripted or on GPU it runs their torch twins (`torch_ops`, tested equal). `profile and `remap` are the identity, `input_size()` is the table's row count and
`buckets()` the number of row-wise shards, so under row-wise sharding the rows produced on the input rank
are routed to the rank that owns them and come back as global rows (tests/distributed/). Multi-row
strategies emit `rows_per_id` values per ID (lengths scaled), which SUM pooling adds up.

The mapping (key table, fused rows, and the spec's pre-map, e.g. dedup's member -> entity) lives in non-persistent
buffers that share memory with the remapper's spec (row sharding would cut persistent ones); `remapper` and
`table_name` let audits name each table's strategy. It is restored from the remapper artifact with
`load_remapper_state`, never from the model's state_dict.

    >>> mc = RemapperMCModule(create("universal", num_rows=1000).fit(ids))
    >>> out = mc({"t": JaggedTensor(values=torch.tensor([7, 123456789]), lengths=torch.tensor([2]))})
"""
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import torch
from torchrec.modules.mc_modules import ManagedCollisionModule
from torchrec.sparse.jagged_tensor import JaggedTensor

from recsys_hash.errors import InvalidIdError
from recsys_hash.ids.base import IdRemapper
from recsys_hash.ids.remap_spec import RemapSpec
from recsys_hash.integrations.torch_ops import remap_rows


def _dtype_name(dtype: torch.dtype) -> str:
    """"torch.float32" etc. in eager and scripted code alike (TorchScript's str(dtype) is the enum number)."""
    known = [torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.bool, torch.uint8, torch.int8,
             torch.int16, torch.complex64, torch.complex128]
    names = ["float16", "bfloat16", "float32", "float64", "bool", "uint8", "int8", "int16", "complex64", "complex128"]
    for i in range(len(known)):
        if dtype == known[i]:
            return "torch." + names[i]
    return str(dtype)


def _id_bounds(values: torch.Tensor, need_max: bool) -> Tuple[int, int]:
    """(min, max or 0) of non-empty int64 IDs: numpy on CPU in eager mode (faster than one OpenMP reduction, and on
    a busy host a parallel region can wait a scheduler time slice for its second thread), torch ops otherwise."""
    if not torch.jit.is_scripting() and values.device.type == "cpu":
        return _id_bounds_numpy(values, need_max)
    if need_max:
        lo_t, hi_t = torch.aminmax(values)
        return int(lo_t.item()), int(hi_t.item())
    return int(values.min().item()), 0


@torch.jit.unused
def _id_bounds_numpy(values: torch.Tensor, need_max: bool) -> Tuple[int, int]:
    v = values.numpy()
    return int(v.min()), (int(v.max()) if need_max else 0)


@torch.fx.wrap
def _remap_features(
    features: Dict[str, JaggedTensor], cols: List[List[int]], dense: torch.Tensor, slots: torch.Tensor, bits: int,
    max_probe: int, input_hash_size: int, where: str, premap: torch.Tensor, pre_bits: int, pre_max_probe: int,
) -> Dict[str, JaggedTensor]:
    """Raw int64 IDs of every feature -> rows; lengths (and per-value weights) scaled by rows per ID.

    Validation is one min (or min+max) pass (`_id_bounds`); bad IDs raise `InvalidIdError` (eager and scripted alike, see
    `torch_ops`); the mapping runs the numpy kernels in eager CPU mode (see `torch_ops.remap_rows`); a single-row
    mapping reuses the input's lengths/offsets (no copy).
    """
    out: Dict[str, JaggedTensor] = {}
    k = len(cols)
    for name, feature in features.items():
        values = feature.values()
        if values.dtype != torch.int64 and values.dtype != torch.int32:
            raise InvalidIdError(
                where + ": feature " + name + " has IDs of dtype " + _dtype_name(values.dtype) + "; need int"
            )
        values = values.to(torch.int64)
        if values.numel() > 0:
            lo, hi = _id_bounds(values, input_hash_size > 0)
            if lo < 0:                           # name the first bad ID and its position (not the smallest one)
                pos = int(torch.nonzero(values < 0).flatten()[0].item())
                raise InvalidIdError(
                    where + ": feature " + name + " has negative ID " + str(int(values[pos].item())) + " at position "
                    + str(pos)
                )
            if input_hash_size > 0:
                if hi >= input_hash_size:
                    pos = int(torch.nonzero(values >= input_hash_size).flatten()[0].item())
                    raise InvalidIdError(
                        where + ": feature " + name + " has ID " + str(int(values[pos].item())) + " at position "
                        + str(pos) + " beyond input_hash_size=" + str(input_hash_size)
                    )
        rows = remap_rows(values, cols, dense, slots, bits, max_probe, where, premap, pre_bits, pre_max_probe)
        weights = feature.weights_or_none()
        if k == 1:
            out[name] = JaggedTensor(
                values=rows.view(-1), lengths=feature.lengths(), offsets=feature.offsets_or_none(), weights=weights,
            )
        else:
            if weights is not None and weights.numel() == values.numel():
                weights = torch.repeat_interleave(weights, k)
            out[name] = JaggedTensor(values=rows.reshape(-1), lengths=feature.lengths() * k, weights=weights)
    return out


class RemapperMCModule(ManagedCollisionModule):
    """A ManagedCollisionModule that runs a fitted IdRemapper's mapping (int64 keys only).

    Args:
        remapper: a fitted IdRemapper with `remap_spec()` (every built-in strategy), or a `RemapSpec`.
        device: where the mapping buffers live (default CPU).
        output_segments: row-wise shard boundaries (set by TorchRec when sharding; default [0, rows]).
        output_id_range: the rows this (local) module owns (default all rows).
        input_hash_size: if set, raw IDs must lie in [0, input_hash_size) (default: the remapper's).
        name: the table name (`make_mc_ebc` passes it); used in error messages.

    Attributes:
        remapper: the IdRemapper the mapping came from (None when built from a bare RemapSpec); audits read it.
        table_name: the table this module feeds ("" when not given).
    """

    _cols: List[List[int]]
    __jit_unused_properties__ = ["rows_per_id", "combiner"]
    __jit_ignored_attributes__ = ["remapper", "_spec"]

    def __init__(
        self, remapper: Union[IdRemapper, RemapSpec], device: Optional[torch.device] = None,
        output_segments: Optional[List[int]] = None, output_id_range: Optional[Tuple[int, int]] = None,
        input_hash_size: Optional[int] = None, name: str = "",
    ) -> None:
        spec, key_kind, ihs = _spec_of(remapper)
        if key_kind == "str":
            raise ValueError(
                f"RemapperMCModule {name!r}: {spec.name} was fitted on string keys; TorchRec features carry int64 "
                "IDs, so fit the remapper on int64 keys (e.g. string_keys_to_int) first"
            )
        device = device or torch.device("cpu")
        num_rows = int(spec.num_rows)
        output_segments = list(output_segments) if output_segments is not None else [0, num_rows]
        super().__init__(device=device, output_segments=output_segments)
        self._spec = spec
        self._num_rows = num_rows
        self._output_id_range: Tuple[int, int] = tuple(output_id_range) if output_id_range else (0, num_rows)
        self._buckets = len(output_segments) - 1
        ihs = input_hash_size if input_hash_size is not None else ihs
        self._input_hash_size: int = int(ihs) if ihs is not None else -1
        self._name = name or spec.name
        self.table_name: str = name
        self.remapper: Optional[IdRemapper] = remapper if isinstance(remapper, IdRemapper) else None
        self._where = f"RemapperMCModule[{self._name}].preprocess"
        self._set_spec(spec)

    # ------------------------------------------------------------------ mapping state
    def _set_spec(self, spec: RemapSpec) -> None:
        if spec.num_rows != self._num_rows:
            raise ValueError(
                f"RemapperMCModule {self._name!r}: the new mapping has {spec.num_rows} rows, this module {self._num_rows}"
            )
        self._spec = spec
        self._cols = [c.as_ints() for c in spec.columns]
        # zero-copy views of the spec's numpy arrays (never written): the eager path reads them back as numpy
        fused = spec.fused_dense()
        if fused is None and spec.table is not None and spec.table.dense is not None:
            fused = spec.table.dense[None, :]    # range past FUSE_MAX: the dense key table, shared by lookup columns
        slots = spec.table.slots if spec.table is not None and spec.table.slots is not None else None
        dense_t = torch.from_numpy(fused) if fused is not None else torch.empty((0, 0), dtype=torch.int64)
        slots_t = torch.from_numpy(slots) if slots is not None else torch.empty((0, 2), dtype=torch.int64)
        self.register_buffer("_dense", dense_t.to(self._device), persistent=False)
        self.register_buffer("_slots", slots_t.to(self._device), persistent=False)
        self._bits: int = int(spec.table.bits) if spec.table is not None else 0
        self._max_probe: int = int(spec.table.max_probe) if spec.table is not None else 0
        pre = spec.premap               # dense [D] or hash-layout slots [size, 2]; empty: no pre-map
        pre_t = torch.empty(0, dtype=torch.int64) if pre is None else torch.from_numpy(
            pre.dense if pre.dense is not None else pre.slots)
        self.register_buffer("_premap", pre_t.to(self._device), persistent=False)
        self._pre_bits: int = int(pre.bits) if pre is not None else 0
        self._pre_max_probe: int = int(pre.max_probe) if pre is not None else 0

    def load_remapper_state(self, source: Union[IdRemapper, RemapSpec, str, Path]) -> "RemapperMCModule":
        """Replace the mapping with a remapper's (or a saved remapper artifact's); the row count must match."""
        if isinstance(source, (str, Path)):
            source = IdRemapper.load(source)
        spec, _, _ = _spec_of(source)
        self._set_spec(spec)
        self.remapper = source if isinstance(source, IdRemapper) else None
        return self

    @property
    def rows_per_id(self) -> int:
        return len(self._cols)

    @property
    def combiner(self) -> str:
        return self._spec.combiner

    # ------------------------------------------------------------------ ManagedCollisionModule API
    def preprocess(self, features: Dict[str, JaggedTensor]) -> Dict[str, JaggedTensor]:
        return _remap_features(
            features, self._cols, self._dense, self._slots, self._bits, self._max_probe, self._input_hash_size,
            self._where, self._premap, self._pre_bits, self._pre_max_probe,
        )

    def profile(self, features: Dict[str, JaggedTensor]) -> Dict[str, JaggedTensor]:
        return features

    def remap(
        self, features: Dict[str, JaggedTensor], mutate_miss_lengths: bool = True,
        write_weights: Optional[torch.Tensor] = None,
    ) -> Dict[str, JaggedTensor]:
        return features

    def forward(self, features: Dict[str, JaggedTensor], mutate_miss_lengths: bool = True) -> Dict[str, JaggedTensor]:
        features = self.preprocess(features)
        features = self.profile(features)
        return self.remap(features)

    def evict(self) -> Optional[torch.Tensor]:
        return None

    def output_size(self) -> int:
        return self._output_id_range[1] - self._output_id_range[0]

    def input_size(self) -> int:
        return self._num_rows

    def buckets(self) -> int:
        return self._buckets

    def open_slots(self) -> torch.Tensor:
        return torch.zeros(1, dtype=torch.int64, device=self._device)

    def validate_state(self) -> None:
        start, end = self._output_id_range
        segs = self._output_segments_tensor
        if not (bool((segs == start).any()) and bool((segs == end).any())):
            raise ValueError(f"RemapperMCModule {self._name!r}: rows [{start}, {end}) do not match segments {segs}")

    def rebuild_with_output_id_range(
        self, output_id_range: Tuple[int, int], output_segments: List[int], device: Optional[torch.device] = None,
    ) -> "RemapperMCModule":
        return type(self)(
            self.remapper if self.remapper is not None else self._spec, device=device or self._device,
            output_segments=output_segments, output_id_range=output_id_range,
            input_hash_size=self._input_hash_size if self._input_hash_size > 0 else None, name=self.table_name,
        )


def _spec_of(source: Union[IdRemapper, RemapSpec]) -> Tuple[RemapSpec, Optional[str], Optional[int]]:
    if isinstance(source, RemapSpec):
        return source, "int", None
    if not isinstance(source, IdRemapper):
        raise TypeError(f"RemapperMCModule needs an IdRemapper or RemapSpec, got {type(source).__name__}")
    if not hasattr(source, "remap_spec"):
        raise TypeError(f"strategy {source.name!r} has no remap_spec(); it cannot run inside TorchRec yet")
    return source.remap_spec(), source.key_kind_, source.input_hash_size
