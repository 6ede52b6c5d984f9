"""Reading the safetensors answers of /v1/research/run: an 8-byte
little-endian header length, a JSON header (tensor names, dtypes, shapes,
byte offsets, and __metadata__), then the tensor bytes. Bounds-checked:
a malformed file raises ValueError."""

import json
import struct

_DTYPES = {"F32": ("f", 4)}


def parse(data: bytes):
    """(metadata dict, {name: (shape, raw little-endian bytes)}) of a safetensors file."""
    if len(data) < 8:
        raise ValueError("too short for a safetensors file")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ValueError("the header runs past the end of the file")
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    if not isinstance(header, dict):
        raise ValueError("the header is not a JSON object")
    body = data[8 + n :]
    meta = header.pop("__metadata__", {}) or {}
    tensors = {}
    for name, info in header.items():
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dtype not in _DTYPES or not isinstance(shape, list) or not isinstance(offsets, list) or len(offsets) != 2:
            raise ValueError(f"tensor {name!r} has a bad description")
        begin, end = offsets
        count = 1
        for d in shape:
            count *= d
        if not 0 <= begin <= end <= len(body) or end - begin != count * _DTYPES[dtype][1]:
            raise ValueError(f"tensor {name!r} has bad offsets")
        tensors[name] = (tuple(shape), body[begin:end])
    return meta, tensors
