"""The client's log checks, offline: inclusion proofs against RFC 6962
roots built independently, and Ed25519 against RFC 8032's test vectors."""

import hashlib
import os
import sys
import unittest

if os.environ.get("APERTURE_NO_NUMPY"):
    sys.modules["numpy"] = None
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from aperture import commitment, ed25519, log  # noqa: E402


def reference_root(leaves):
    """RFC 6962, section 2.1: the Merkle tree hash of a list of leaf hashes."""
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return log.node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


def reference_path(index, leaves):
    """RFC 6962, section 2.1.1: the audit path of leaf `index`."""
    if len(leaves) == 1:
        return []
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    if index < k:
        return reference_path(index, leaves[:k]) + [reference_root(leaves[k:])]
    return reference_path(index - k, leaves[k:]) + [reference_root(leaves[:k])]


class LogTest(unittest.TestCase):
    def test_inclusion_proofs_lead_to_the_root(self):
        for size in range(1, 20):
            leaves = [log.leaf_hash(f"entry {i}".encode()) for i in range(size)]
            root = reference_root(leaves)
            for index in range(size):
                path = reference_path(index, leaves)
                self.assertEqual(log.root_from_inclusion_proof(index, size, leaves[index], path), root)
                if path:
                    bad = list(path)
                    bad[0] = hashlib.sha256(b"x").digest()
                    self.assertNotEqual(log.root_from_inclusion_proof(index, size, leaves[index], bad), root)
                    with self.assertRaises(log.VerificationError):
                        log.root_from_inclusion_proof(index, size, leaves[index], path[:-1])
        with self.assertRaises(log.VerificationError):
            log.root_from_inclusion_proof(5, 5, leaves[0], [])

    def test_ed25519_matches_rfc8032(self):
        vectors = [  # RFC 8032, section 7.1, tests 1 and 2
            ("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
             "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bac"
             "c61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
            ("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
             "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e"
             "458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
        ]
        for pk, msg, sig in vectors:
            pk, msg, sig = bytes.fromhex(pk), bytes.fromhex(msg), bytes.fromhex(sig)
            self.assertTrue(ed25519.verify(pk, msg, sig))
            self.assertFalse(ed25519.verify(pk, msg + b"!", sig))
            self.assertFalse(ed25519.verify(pk, msg, sig[:-1] + bytes([sig[-1] ^ 1])))

    def test_commitments_treat_floats_as_float32(self):
        a = {"x": 0.1, "n": 3, "captures": {"s": [[1.0, None], [0.5, 2.0]]}}
        b = {"n": 3, "x": float.fromhex("0x1.99999a0000000p-4"), "captures": {"s": [[1.0, None], [0.5, 2.0]]}}
        self.assertEqual(commitment.of_json_answer(a), commitment.of_json_answer(b))
        c = {"n": 3, "x": 0.1, "captures": {"s": [[1.0, None], [0.5, 2.5]]}}
        self.assertNotEqual(commitment.of_json_answer(a), commitment.of_json_answer(c))
        with self.assertRaises(ValueError):
            commitment.of_json_answer({"captures": {"s": [[1.0], [1.0, 2.0]]}})


if __name__ == "__main__":
    unittest.main()
