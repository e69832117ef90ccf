"""Arrow -> torch: pure conversion of a record batch into a dict of tensors (without a copy
where the type allows), pinned-buffer reuse, and packing a batch into one buffer for worker
processes.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from thermocline.catalog.errors import (
    InputError,
)

__all__ = [
    "MASK",
    "Batch",
    "PinnedRing",
    "fill_value",
    "is_list",
    "is_scalar",
    "is_text",
    "pack",
    "tensor_type",
    "to_tensors",
    "unpack",
    "value_type",
]

MASK = "_mask"
"""Key of the bool tensor marking real rows (False: padding) when ``drop_last`` is False."""
Batch = dict[str, Any]
_TORCH_TYPES = {
    pa.int8(): torch.int8,
    pa.int16(): torch.int16,
    pa.int32(): torch.int32,
    pa.int64(): torch.int64,
    pa.uint8(): torch.uint8,
    pa.uint16(): torch.uint16,
    pa.uint32(): torch.uint32,
    pa.uint64(): torch.uint64,
    pa.float16(): torch.float16,
    pa.float32(): torch.float32,
    pa.float64(): torch.float64,
}


def to_tensors(
    table: pa.Table,
    *,
    batch_size: int,
    drop_last: bool,
    list_sizes: Mapping[str, int],
    ragged: str,
    fill: Mapping[str, pa.Scalar] | None = None,
    null_masks: Collection[str] = (),
) -> Batch:
    """One batch as tensors, padded to ``batch_size`` rows unless ``drop_last``: lists named
    in ``list_sizes`` as 2-D tensors, other lists as ``ragged`` ("offsets" or "padded").

    A null in a number column is refused (a tensor has no null, and NaN would pass silently)
    unless ``fill`` gives the column's value for nulls, or the column is in ``null_masks``:
    then nulls are 0 and ``<column>_mask`` is True where the value is real. A batch without
    nulls costs one ``null_count`` per column.
    """
    size, rows = batch_size, table.num_rows
    pad = 0 if drop_last else size - rows
    batch: Batch = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
        if isinstance(array.type, pa.DictionaryType):
            array = array.dictionary_decode()
        if name in null_masks:
            valid = torch.ones(rows, dtype=torch.bool)
            if array.null_count:
                valid = torch.from_numpy(array.is_valid().to_numpy(zero_copy_only=False))
                array = pc.fill_null(array, fill_value(name, array.type, 0))
            batch[f"{name}_mask"] = _padded(valid, pad)
        elif fill and name in fill and array.null_count:
            array = pc.fill_null(array, fill[name])
        kind = array.type
        if is_text(kind):
            filler = b"" if pa.types.is_binary(kind) or pa.types.is_large_binary(kind) else ""
            batch[name] = array.to_pylist() + [filler] * pad
        elif name in list_sizes:
            batch[name] = _padded(_fixed(name, array, list_sizes[name]), pad)
        elif is_list(kind):
            _ragged(batch, name, array, pad, ragged)
        else:
            batch[name] = _padded(_dense(name, array), pad)
    if not drop_last:
        mask = torch.zeros(size, dtype=torch.bool)
        mask[:rows] = True
        batch[MASK] = mask
    return batch


def _dense(name: str, array: pa.Array) -> torch.Tensor:
    """A numeric, bool, time or fixed-size-list array as a tensor; no copy where possible."""
    kind = array.type
    if pa.types.is_fixed_size_list(kind):
        _no_nulls(name, array)
        width = kind.list_size
        values = array.values.slice(array.offset * width, len(array) * width)
        inner = _dense(name, values)
        return inner.reshape(len(array), width, *inner.shape[1:])
    if pa.types.is_boolean(kind):
        _no_nulls(name, array)
        return torch.from_numpy(array.to_numpy(zero_copy_only=False))
    storage = tensor_type(kind)
    if storage is None:
        raise InputError(f"column {name!r} of type {kind} has no tensor form")
    _no_nulls(name, array)
    dtype = _TORCH_TYPES[storage]
    if not len(array):
        return torch.empty(0, dtype=dtype)
    buffer = array.buffers()[1]
    width = storage.byte_width
    if buffer.is_mutable:  # Arrow's own memory: share it, no copy
        return torch.frombuffer(buffer, dtype=dtype, count=len(array), offset=array.offset * width)
    copied = np.frombuffer(
        buffer, dtype=storage.to_pandas_dtype(), count=len(array), offset=array.offset * width
    ).copy()
    return torch.from_numpy(copied)


def _fixed(name: str, array: pa.Array, width: int) -> torch.Tensor:
    """A list column whose lists all have ``width`` items as a 2-D tensor (Delta tables store
    fixed-size lists as plain lists, so the reader says the width)."""
    _no_nulls(name, array)
    lengths = pc.list_value_length(array).to_numpy()
    if len(lengths) and (lengths != width).any():
        raise InputError(
            f"column {name!r} has lists of {sorted(set(lengths.tolist()))[:5]} items, not all "
            f"{width} as list_sizes says; drop it from list_sizes to get values and offsets"
        )
    values = _dense(name, array.flatten())
    return values.reshape(len(array), width, *values.shape[1:])


def _ragged(batch: Batch, name: str, array: pa.Array, pad: int, ragged: str) -> None:
    """A variable-length list column as values + offsets, or as a padded 2-D tensor + mask."""
    _no_nulls(name, array)
    values = _dense(name, array.flatten())
    offsets = torch.from_numpy(array.offsets.to_numpy().astype(np.int64))
    offsets -= int(offsets[0])
    if ragged == "offsets":
        batch[name] = values
        batch[f"{name}_offsets"] = (
            torch.cat([offsets, offsets[-1:].expand(pad)]) if pad else offsets
        )
        return
    lengths = offsets[1:] - offsets[:-1]
    rows = len(array) + pad
    width = int(lengths.max()) if len(lengths) else 0
    mask = torch.zeros(rows, width, dtype=torch.bool)
    mask[: len(array)] = torch.arange(width) < lengths[:, None]
    padded = torch.zeros(rows, width, *values.shape[1:], dtype=values.dtype)
    padded[mask] = values
    batch[name], batch[f"{name}_mask"] = padded, mask


def _padded(tensor: torch.Tensor, pad: int) -> torch.Tensor:
    if not pad:
        return tensor
    out = torch.zeros(len(tensor) + pad, *tensor.shape[1:], dtype=tensor.dtype)
    out[: len(tensor)] = tensor
    return out


def _no_nulls(name: str, array: pa.Array) -> None:
    if array.null_count:
        choices = (
            f"pass fill={{{name!r}: {0.0 if pa.types.is_floating(array.type) else 0}}} or "
            f"null_masks=[{name!r}], or filter them out"
            if is_scalar(array.type)
            else "filter them out"
        )
        raise InputError(
            f"column {name!r} has {array.null_count} null(s) in a batch, which a tensor of "
            f"{array.type} cannot hold; {choices}, e.g. filter=pc.field({name!r}).is_valid()",
            field=name,
        )


def is_scalar(kind: pa.DataType) -> bool:
    """A number, bool or time: one value per row, which a fill value or a null mask can cover."""
    return tensor_type(kind) is not None and not pa.types.is_fixed_size_list(kind)


def fill_value(name: str, kind: pa.DataType, value: Any) -> pa.Scalar:
    """``value`` as a scalar of column ``name``'s type ``kind``, or an :class:`InputError`."""
    try:
        if pa.types.is_boolean(kind):
            return pa.scalar(value, kind) if isinstance(value, bool) else pa.scalar(bool(value))
        storage = tensor_type(kind)
        if isinstance(value, bool | str | bytes) or storage is None:
            raise TypeError(value)
        return pa.scalar(value).cast(storage, safe=True).cast(kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError) as error:
        raise InputError(
            f"fill value {value!r} does not fit column {name!r} ({kind}); give a value of its "
            "type, e.g. 0 for whole numbers and times, 0.0 for floats",
            field=name,
        ) from error


def value_type(kind: pa.DataType) -> pa.DataType:
    return kind.value_type if isinstance(kind, pa.DictionaryType) else kind


def tensor_type(kind: pa.DataType) -> pa.DataType | None:
    """The fixed-width storage type a tensor of ``kind`` uses, or None."""
    if kind in _TORCH_TYPES:
        return kind
    if pa.types.is_boolean(kind):
        return kind
    if pa.types.is_temporal(kind) and not pa.types.is_interval(kind):
        return pa.int64() if kind.bit_width == 64 else pa.int32()
    if pa.types.is_fixed_size_list(kind):
        return tensor_type(kind.value_type)
    return None


def is_text(kind: pa.DataType) -> bool:
    return any(
        check(kind)
        for check in (
            pa.types.is_string,
            pa.types.is_large_string,
            pa.types.is_binary,
            pa.types.is_large_binary,
            pa.types.is_string_view,
            pa.types.is_binary_view,
        )
    )


def is_list(kind: pa.DataType) -> bool:
    return (pa.types.is_list(kind) or pa.types.is_large_list(kind)) and (
        tensor_type(kind.value_type) is not None
    )


class PinnedRing:
    """Page-locked copies of batches, reused round-robin: host-to-device copies run async.

    A slot is reused ``depth`` batches later, so move a batch to the device (or clone it)
    before keeping it longer than that.
    """

    def __init__(self, depth: int) -> None:
        self.depth = depth
        self.slots: list[dict[str, torch.Tensor]] = [{} for _ in range(depth)]
        self.turn = 0

    def copy(self, batch: Batch) -> Batch:
        slot = self.slots[self.turn % self.depth]
        self.turn += 1
        pinned: Batch = {}
        for key, value in batch.items():
            if not isinstance(value, torch.Tensor):
                pinned[key] = value
                continue
            buffer = slot.get(key)
            if buffer is None or buffer.shape != value.shape or buffer.dtype != value.dtype:
                buffer = slot[key] = torch.empty(value.shape, dtype=value.dtype, pin_memory=True)
            buffer.copy_(value)
            pinned[key] = buffer
        return pinned


_PACKED = "__thermocline_packed__"
_ALIGN = 64


def pack(batch: Batch) -> Batch:
    """Every tensor of ``batch`` in one shared-memory buffer: one segment crosses processes."""
    layout, offset = [], 0
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            nbytes = value.numel() * value.element_size()
            layout.append((key, value.dtype, tuple(value.shape), offset, nbytes))
            offset += -(-nbytes // _ALIGN) * _ALIGN
    buffer = torch.empty(offset, dtype=torch.uint8).share_memory_()  # type: ignore[no-untyped-call]
    for key, _, _, start, nbytes in layout:
        if nbytes:
            buffer[start : start + nbytes] = batch[key].contiguous().view(-1).view(torch.uint8)
    others = {k: v for k, v in batch.items() if not isinstance(v, torch.Tensor)}
    return {_PACKED: (buffer, layout, others)}


def unpack(batch: Batch) -> Batch:
    if _PACKED not in batch:
        return batch
    buffer, layout, others = batch[_PACKED]
    out: Batch = {}
    for key, dtype, shape, start, nbytes in layout:
        out[key] = buffer[start : start + nbytes].view(dtype).reshape(shape)
    out.update(others)
    return {k: out[k] for k in [*[entry[0] for entry in layout], *others]}
