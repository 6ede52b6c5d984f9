"""The SHA-256 commitment the log records for a research result
(docs/research.md), recomputed from the answer as received: the response
object without "receipt"; each capture replaced by {"dtype": "F32",
"shape": [...], "sha256": hex of its little-endian float32 bytes, -inf
where masked}; every other non-integer number replaced by the string
"%.9g" of its float32 value; then the canonical JSON (sorted keys, no
whitespace, UTF-8) hashed."""

import hashlib
import json
import struct


def _float32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def _flatten(value, dim, shape, out):
    if not isinstance(value, list):
        if dim != len(shape):
            raise ValueError("a capture is not a rectangular array")
        out.append(float("-inf") if value is None else float(value))
        return
    if dim == len(shape):
        if out:
            raise ValueError("a capture is not a rectangular array")
        shape.append(len(value))
    elif shape[dim] != len(value):
        raise ValueError("a capture is not a rectangular array")
    for x in value:
        _flatten(x, dim + 1, shape, out)


def descriptor(shape, data_bytes: bytes) -> dict:
    return {"dtype": "F32", "shape": list(shape), "sha256": hashlib.sha256(data_bytes).hexdigest()}


def nested_descriptor(nested) -> dict:
    """The descriptor of a capture given as nested lists (null for masked scores)."""
    shape, flat = [], []
    _flatten(nested, 0, shape, flat)
    return descriptor(shape, struct.pack(f"<{len(flat)}f", *flat))


def _commit_form(value):
    if isinstance(value, dict):
        return {k: _commit_form(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_commit_form(v) for v in value]
    if isinstance(value, float):
        return "%.9g" % _float32(value)
    return value


def sha256_of(obj: dict) -> str:
    """The commitment of a response object whose captures are already descriptors."""
    canonical = json.dumps(_commit_form(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def of_json_answer(answer: dict) -> str:
    """The commitment of a JSON answer (captures as nested lists)."""
    obj = {k: v for k, v in answer.items() if k != "receipt"}
    if isinstance(obj.get("captures"), dict):
        obj["captures"] = {k: nested_descriptor(v) for k, v in obj["captures"].items()}
    if isinstance(obj.get("results"), list):
        results = []
        for r in obj["results"]:
            if isinstance(r, dict) and isinstance(r.get("captures"), dict):
                r = dict(r, captures={k: nested_descriptor(v) for k, v in r["captures"].items()})
            results.append(r)
        obj["results"] = results
    return sha256_of(obj)
