"""Read a PyTorch .pth state dict into NumPy arrays without importing torch.

Why: PyTorch's default PyPI wheel is gigabytes; the demo only needs the tensors of one checkpoint. This reader
understands both of torch.save's container formats:
  - legacy (torch < 1.6): a sequence of pickles (magic, protocol, sys_info, the object, storage keys) followed by
    each storage as <int64 numel><raw little-endian bytes>;
  - zip (torch >= 1.6): archive/data.pkl plus archive/data/<key> raw storages.
Only a whitelist of globals is honoured (collections.OrderedDict, torch's tensor rebuild functions and storage
types); anything else in the pickle is refused, so a hostile file cannot run code.
If torch is importable, callers may prefer torch.load; the results are identical.
"""
import collections
import io
import pickle
import struct
import zipfile

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class _Storage:
    """A storage whose bytes arrive after the object pickle (legacy) or from the zip (new format)."""

    def __init__(self, dtype, numel):
        self.dtype = np.dtype(dtype)
        self.numel = numel
        self.array = None


class _StorageType:
    def __init__(self, name):
        self.dtype = _STORAGE_DTYPES[name]


class _LazyTensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def materialize(self):
        base = self.storage.array
        if base is None:
            raise ValueError("storage was never filled (file truncated?)")
        item = base.itemsize
        view = np.lib.stride_tricks.as_strided(
            base[self.offset:], shape=self.size, strides=[s * item for s in self.stride])
        return np.array(view)  # own contiguous copy


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, *rest):
    return _LazyTensor(storage, storage_offset, size, stride)


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _LazyTensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *rest):
    return data


class _Unpickler(pickle.Unpickler):
    def __init__(self, f, persistent):
        super().__init__(f)
        self._persistent = persistent

    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils":
            table = {"_rebuild_tensor_v2": _rebuild_tensor_v2, "_rebuild_tensor": _rebuild_tensor,
                     "_rebuild_parameter": _rebuild_parameter}
            if name in table:
                return table[name]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"refusing global {module}.{name} in checkpoint")

    def persistent_load(self, pid):
        return self._persistent(pid)


def _walk(obj):
    """Replace every _LazyTensor inside dicts/lists/tuples by its NumPy array."""
    if isinstance(obj, _LazyTensor):
        return obj.materialize()
    if isinstance(obj, dict):
        return type(obj)((k, _walk(v)) for k, v in obj.items()) if isinstance(obj, collections.OrderedDict) \
            else {k: _walk(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_walk(v) for v in obj)
    return obj


def _load_legacy(f):
    storages = {}

    def persistent(pid):
        typename = pid[0]
        if typename == "module":
            return None
        if typename != "storage":
            raise pickle.UnpicklingError(f"unknown persistent id {typename!r}")
        storage_type, key, _location, numel, view_metadata = pid[1:6]
        if key not in storages:
            storages[key] = _Storage(storage_type.dtype, numel)
        if view_metadata is not None:
            raise pickle.UnpicklingError("storage views (pre-0.4 checkpoints) are not supported")
        return storages[key]

    magic = pickle.load(f)
    if magic != LEGACY_MAGIC:
        raise ValueError("not a PyTorch checkpoint (bad magic number)")
    pickle.load(f)  # protocol version
    pickle.load(f)  # sys_info (endianness, type sizes): torch only ever wrote little-endian files
    result = _Unpickler(f, persistent).load()
    keys = pickle.load(f)
    for key in keys:
        st = storages[key]
        (numel,) = struct.unpack("<q", f.read(8))
        nbytes = numel * st.dtype.itemsize
        raw = f.read(nbytes)
        if len(raw) != nbytes:
            raise ValueError(f"checkpoint truncated in storage {key}")
        st.array = np.frombuffer(raw, dtype=st.dtype.newbyteorder("<")).astype(st.dtype)
    return result


def _load_zip(path):
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        pkl = next(n for n in names if n.endswith("/data.pkl") or n == "data.pkl")
        prefix = pkl[: -len("data.pkl")]
        storages = {}

        def persistent(pid):
            _, storage_type, key, _location, numel = pid[:5]
            if key not in storages:
                st = _Storage(storage_type.dtype, numel)
                raw = z.read(f"{prefix}data/{key}")
                st.array = np.frombuffer(raw, dtype=st.dtype.newbyteorder("<")).astype(st.dtype)
                storages[key] = st
            return storages[key]

        return _Unpickler(io.BytesIO(z.read(pkl)), persistent).load()


def load(path):
    """Returns the checkpoint's object (usually an OrderedDict name -> np.ndarray)."""
    if zipfile.is_zipfile(path):
        return _walk(_load_zip(path))
    with open(path, "rb") as f:
        return _walk(_load_legacy(f))


if __name__ == "__main__":
    import sys
    sd = load(sys.argv[1])
    for k, v in sd.items():
        print(k, getattr(v, "shape", v), getattr(v, "dtype", ""))
