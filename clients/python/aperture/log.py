"""The transparency log from the outside: RFC 6962 hashes, inclusion proofs
(RFC 9162, section 2.1.3.2) and C2SP signed-note checkpoints, checked with
nothing but the standard library."""

import base64
import hashlib
import struct

from . import ed25519


class VerificationError(Exception):
    """A receipt, proof or checkpoint does not verify."""


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: list) -> bytes:
    """The root that `proof` gives for `leaf` at `index` in a tree of `size` leaves."""
    if index < 0 or index >= size:
        raise VerificationError(f"index {index} is not below the tree size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise VerificationError("the inclusion proof is longer than the tree allows")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("the inclusion proof is shorter than the tree needs")
    return r


def parse_verifier_key(vkey: str):
    """(name, key hash, 32-byte public key) of a "name+hash+base64(0x01 || key)" verifier key."""
    try:
        name, hash_hex, b64 = vkey.strip().split("+", 2)
        key = base64.b64decode(b64, validate=True)
        key_hash = int(hash_hex, 16)
    except (ValueError, TypeError) as e:
        raise VerificationError(f"not a verifier key: {vkey!r}") from e
    if len(hash_hex) != 8 or len(key) != 33 or key[0] != 0x01:
        raise VerificationError("only Ed25519 verifier keys (0x01 and 32 bytes) are supported")
    want = struct.unpack(">I", hashlib.sha256(name.encode() + b"\n" + key).digest()[:4])[0]
    if want != key_hash:
        raise VerificationError("the verifier key's hash does not match its name and key")
    return name, key_hash, key[1:]


def open_checkpoint(note: str, vkey: str):
    """(origin, size, root) of a checkpoint note signed by `vkey`."""
    name, key_hash, public_key = parse_verifier_key(vkey)
    split = note.rfind("\n\n")
    if split < 0:
        raise VerificationError("the checkpoint has no signature block")
    text, signatures = note[: split + 1], note[split + 2 :]
    verified = False
    for line in signatures.splitlines():
        if not line.startswith("\u2014 "):
            raise VerificationError(f"{line!r} is not a signature line")
        signer, _, b64 = line[2:].partition(" ")
        sig = base64.b64decode(b64)
        if signer != name or len(sig) < 4 or struct.unpack(">I", sig[:4])[0] != key_hash:
            continue
        if not ed25519.verify(public_key, text.encode(), sig[4:]):
            raise VerificationError("the checkpoint's signature does not verify")
        verified = True
    if not verified:
        raise VerificationError(f"the checkpoint is not signed by {name}")
    lines = text.split("\n")
    if len(lines) < 4 or lines[0] != name:
        raise VerificationError("the checkpoint's origin is not the key's name")
    return lines[0], int(lines[1]), base64.b64decode(lines[2])
