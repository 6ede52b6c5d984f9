"""The research client against a running server (clients/python/run_tests.sh
starts one on stories260K): captures in TransformerLens's shapes, hooks,
patching, directions, steering, safetensors, errors, and receipts that
verify. Runs with numpy, and again without (APERTURE_NO_NUMPY=1)."""

import math
import os
import sys
import unittest

if os.environ.get("APERTURE_NO_NUMPY"):
    sys.modules["numpy"] = None  # import numpy now fails: the client must do without
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import aperture  # noqa: E402
from aperture import HookedModel, ResearchError, VerificationError, add, patch, scale, zero  # noqa: E402

try:
    import numpy as np
except ImportError:
    np = None

URL = os.environ.get("APERTURE_URL", "")
KEY = os.environ.get("APERTURE_KEY", "")
API_KEY = os.environ.get("APERTURE_API_KEY", "")
MODEL = os.environ.get("APERTURE_MODEL", "tiny")


def shape(x):
    if np is not None:
        return tuple(x.shape)
    out = []
    while isinstance(x, list):
        out.append(len(x))
        x = x[0] if x else None
    return tuple(out)


def flat(x):
    if np is not None:
        return [float(v) for v in np.asarray(x).ravel()]
    if isinstance(x, list):
        return [v for item in x for v in flat(item)]
    return [x]


@unittest.skipUnless(URL, "needs a running server (APERTURE_URL); clients/python/run_tests.sh starts one")
class ClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.model = HookedModel(URL, MODEL, key=KEY)
        cls.cfg = cls.model.cfg

    def test_numpy_when_present(self):
        cache = self.model.run_with_cache("Once upon a time", names_filter="blocks.0.hook_resid_post")
        arr = cache["blocks.0.hook_resid_post"]
        if np is not None:
            self.assertIsInstance(arr, np.ndarray)
            self.assertEqual(arr.dtype, np.float32)
        else:
            self.assertIsInstance(arr, list)

    def test_run_with_cache_gives_transformer_lens_shapes(self):
        c = self.cfg
        cache = self.model.run_with_cache("Once upon a time", names_filter="blocks.*.hook_resid_post")
        n = len(cache.tokens)
        self.assertEqual(sorted(cache), sorted(f"blocks.{l}.hook_resid_post" for l in range(c["n_layers"])))
        self.assertEqual(shape(cache["blocks.1.hook_resid_post"]), (n, c["d_model"]))
        cache = self.model.run_with_cache(
            "Once upon a time", names_filter=lambda name: name.startswith("blocks.0.attn."))
        self.assertEqual(shape(cache["blocks.0.attn.hook_z"]), (n, c["n_heads"], c["d_head"]))
        self.assertEqual(shape(cache["blocks.0.attn.hook_k"]), (n, c["n_key_value_heads"], c["d_head"]))
        self.assertEqual(shape(cache["blocks.0.attn.hook_pattern"]), (c["n_heads"], n, n))
        # Masked scores are -inf; each pattern row sums to one.
        scores = cache["blocks.0.attn.hook_attn_scores"]
        self.assertEqual(flat(scores)[1], -math.inf)
        row = flat(cache["blocks.0.attn.hook_pattern"])[(n - 1) * n:n * n]
        self.assertAlmostEqual(sum(row), 1.0, places=5)
        # Selectors and reductions.
        cache = self.model.run_with_cache("Once upon a time", names_filter="blocks.1.attn.hook_v", heads=[0],
                                          positions=[-1], ungroup=True)
        self.assertEqual(shape(cache["blocks.1.attn.hook_v"]), (1, 1, c["d_head"]))
        cache = self.model.run_with_cache("Once upon a time", names_filter="blocks.1.hook_resid_post", reduce="mean")
        self.assertEqual(shape(cache["blocks.1.hook_resid_post"]), (c["d_model"],))

    def test_safetensors_equals_json(self):
        a = self.model.run_with_cache(["Once upon a time", "The cat sat"], names_filter="blocks.2.mlp.hook_post")
        b = self.model.run_with_cache(["Once upon a time", "The cat sat"], names_filter="blocks.2.mlp.hook_post",
                                      format="safetensors")
        self.assertEqual(len(a), 2)
        for x, y in zip(a, b):
            self.assertEqual(flat(x["blocks.2.mlp.hook_post"]), flat(y["blocks.2.mlp.hook_post"]))
            self.assertEqual(x.tokens, y.tokens)
        b[1].receipt.verify()

    def test_hooks_change_the_model_and_patching_clean_into_clean_changes_nothing(self):
        base = self.model.run_with_hooks("Once upon a time", [], top_k=5)
        ablated = self.model.run_with_hooks("Once upon a time", [("blocks.*.attn.hook_z", zero(heads=[0, 1, 2]))],
                                            top_k=5)
        self.assertNotEqual([t["logprob"] for t in base.top_logprobs], [t["logprob"] for t in ablated.top_logprobs])
        same = self.model.run_with_hooks(["Once upon a time", "Once upon a time"],
                                         [("blocks.*.hook_resid_pre", patch(0))], top_k=5)
        self.assertEqual(same[0].top_logprobs, same[1].top_logprobs)
        self.assertEqual(same[0].top_logprobs, base.top_logprobs)
        with self.assertRaises(TypeError):
            self.model.run_with_hooks("hi", [("hook_embed", lambda v, hook: v)])

    def test_patch_sweep(self):
        c = self.cfg
        clean, corrupted = [1, 403, 407, 261, 378], [1, 403, 407, 261, 60]
        result = self.model.patch(clean, corrupted, ["blocks.*.hook_resid_post", "blocks.*.attn.hook_z"],
                                  {"logit_diff": [60, 378]})
        self.assertEqual(shape(result["blocks.*.hook_resid_post"]), (c["n_layers"], len(clean)))
        self.assertEqual(shape(result["blocks.*.attn.hook_z"]), (c["n_layers"], c["n_heads"]))
        # The last block's output at the last position is all the logits read.
        last = flat(result["blocks.*.hook_resid_post"])[-1]
        self.assertAlmostEqual(last, 1.0, places=6)
        self.assertEqual(flat(result.raw["blocks.*.hook_resid_post"])[-1], result.clean)
        result.receipt.verify()

    def test_direction_steers_generation(self):
        d = self.model.direction("blocks.2.hook_resid_post", ["happy happy day", "joy and fun"],
                                 ["sad and cold", "dark rain"])
        self.assertEqual(len(flat(d.vector)), self.cfg["d_model"])
        self.assertGreater(d.norm, 0)
        d.receipt.verify()
        plain = self.model.generate("Once upon a time", max_tokens=12)
        steered = self.model.generate("Once upon a time", max_tokens=12,
                                      fwd_hooks=[("blocks.2.hook_resid_post", add(d.vector, scale=8.0))])
        self.assertNotEqual(plain, steered)
        self.assertEqual(steered, self.model.generate("Once upon a time", max_tokens=12, fwd_hooks=[
            ("blocks.2.hook_resid_post", add(d.vector, scale=8.0))]))

    def test_logit_lens_last_layer_is_the_models_logprobs(self):
        r = self.model.run_with_cache("Once upon a time", top_k=5, logit_lens=5)
        last = r.logit_lens["top"][-1][-1]
        self.assertEqual([t["token"] for t in last], [t["token"] for t in r.top_logprobs])
        self.assertEqual([t["logprob"] for t in last], [t["logprob"] for t in r.top_logprobs])

    def test_receipts_verify_and_catch_tampering(self):
        cache = self.model.run_with_cache("Once upon a time", names_filter="blocks.0.attn.hook_z")
        entry = cache.receipt.verify()
        self.assertEqual(entry["type"], "research.run")
        self.assertEqual(entry["details"]["result_sha256"], cache.receipt.result_sha256)
        self.assertNotIn("Once upon", str(entry))
        # The same entry with the log's published key given explicitly.
        key = aperture.model._Http(URL, KEY, 30).get("/log/key").decode().strip()
        cache.receipt.verify(verifier_key=key)
        # A result other than the one logged does not verify.
        cache.receipt._computed_result_sha256 = "0" * 64
        with self.assertRaises(VerificationError):
            cache.receipt.verify()
        # Nor does a checkpoint checked with another key.
        other = "aperture.local/log+00000000+" + "AQ" + "A" * 42 + "="
        with self.assertRaises(VerificationError):
            cache.receipt.verify(verifier_key=other)

    def test_errors_name_the_field(self):
        with self.assertRaises(ResearchError) as e:
            self.model.run_with_cache("hi", names_filter="blocks.99.hook_resid_post")
        self.assertEqual(e.exception.status, 400)
        self.assertEqual(e.exception.param, "capture[0]")
        with self.assertRaises(ResearchError) as e:
            self.model.run_with_hooks("hi", [("blocks.0.hook_resid_post", add([1.0, 2.0]))])
        self.assertEqual(e.exception.param, "interventions[0].vector")

    @unittest.skipUnless(API_KEY, "needs an api-level key")
    def test_api_callers_get_the_ordinary_level_refusal(self):
        with self.assertRaises(ResearchError) as e:
            HookedModel(URL, MODEL, key=API_KEY).run_with_cache("hi", names_filter="hook_embed")
        self.assertEqual(e.exception.status, 403)
        self.assertIn("needs level 'research'", e.exception.message)

    def test_scale_op_in_chat_style_steering(self):
        a = self.model.generate("Once upon a time", max_tokens=8, fwd_hooks=[("blocks.3.hook_resid_post", scale(-2))])
        b = self.model.generate("Once upon a time", max_tokens=8)
        self.assertNotEqual(a, b)


if __name__ == "__main__":
    unittest.main()
