"""A researcher's view of a model served by Aperture, shaped like
TransformerLens's HookedTransformer: run_with_cache returns a cache of
activations by hook name, run_with_hooks applies interventions, patch runs
an activation-patching sweep, and every answer carries a Receipt whose
verify() checks, against the log's signed checkpoint, that this model
served exactly this result.

Nothing runs on the server but the declarative request: hooks are
operations (add, set_, scale, zero, mean, patch), not Python functions.
Arrays are numpy arrays when numpy is installed, nested lists otherwise.
"""

import base64
import hashlib
import json
import struct
import urllib.error
import urllib.request

from . import commitment, log, safetensors

try:  # numpy is optional
    import numpy as _np
except ImportError:  # pragma: no cover - exercised by the no-numpy test run
    _np = None

# The hook sites of one block, in forward order, and the global ones
# (the server's engine/model/hooks.cpp).
BLOCK_SITES = (
    "hook_resid_pre", "ln1.hook_scale", "ln1.hook_normalized", "attn.hook_q", "attn.hook_k", "attn.hook_v",
    "attn.hook_rot_q", "attn.hook_rot_k", "attn.hook_attn_scores", "attn.hook_pattern", "attn.hook_z",
    "hook_attn_out", "hook_resid_mid", "ln2.hook_scale", "ln2.hook_normalized", "mlp.hook_pre",
    "mlp.hook_pre_linear", "mlp.hook_post", "hook_mlp_out", "hook_resid_post",
)
# Sites only some architectures have, after the site they follow, by the
# cfg flag that adds them (Gemma's post-norms, Qwen3's and Gemma 3's Q/K norms).
ARCH_SITES = (
    ("use_qk_norm", "attn.hook_v", ("attn.q_norm.hook_scale", "attn.q_norm.hook_normalized",
                                    "attn.k_norm.hook_scale", "attn.k_norm.hook_normalized")),
    ("use_normalization_before_and_after", "attn.hook_z", ("ln1_post.hook_scale", "ln1_post.hook_normalized")),
    ("use_normalization_before_and_after", "mlp.hook_post", ("ln2_post.hook_scale", "ln2_post.hook_normalized")),
)
MAX_CAPTURES = 64


class ResearchError(Exception):
    """The server refused or failed a request: HTTP status, error code, the field at fault."""

    def __init__(self, status, message, code=None, param=None):
        super().__init__(f"{status} {code or ''}: {message}" + (f" (field {param})" if param else ""))
        self.status, self.code, self.param, self.message = status, code, param, message


# ---- interventions (the `op` half of a TransformerLens fwd_hook)


def _where(positions=None, heads=None, neurons=None, inputs=None):
    out = {}
    for key, value in (("positions", positions), ("heads", heads), ("neurons", neurons), ("inputs", inputs)):
        if value is not None:
            out[key] = [int(v) for v in value]
    return out


def _vector(v):
    return [float(x) for x in (v.tolist() if hasattr(v, "tolist") else v)]


def add(vector, scale=1.0, **where):
    """Adds scale * vector (the site's last dimension): steering."""
    return {"op": "add", "vector": _vector(vector), "scale": float(scale), **_where(**where)}


def set_(vector, **where):
    return {"op": "set", "vector": _vector(vector), **_where(**where)}


def scale(factor, **where):
    return {"op": "scale", "scale": float(factor), **_where(**where)}


def zero(**where):
    """Zero-ablation of a site, a head (heads=[h]) or neurons (neurons=[i])."""
    return {"op": "zero", **_where(**where)}


def mean(vector=None, over=None, **where):
    """Mean-ablation: a mean you give, or the server's mean over inputs `over` of the same request."""
    op = {"op": "mean", **_where(**where)}
    if (vector is None) == (over is None):
        raise ValueError("mean() takes exactly one of vector= or over=")
    if vector is not None:
        op["mean"] = _vector(vector)
    else:
        op["mean_over"] = [int(i) for i in over]
    return op


def patch(from_input, **where):
    """Activation patching: the values of input `from_input` of the same request."""
    return {"op": "patch", "from": int(from_input), **_where(**where)}


def _interventions(fwd_hooks):
    out = []
    for hook, op in fwd_hooks:
        if callable(op):
            raise TypeError("hooks run on the server, so they are operations (add, scale, zero, ...), not functions")
        out.append({"hook": hook, **op})
    return out


# ---- results


def _array(nested, shape=None, raw=None):
    """A capture as an array: from safetensors bytes, or from JSON nested lists (null: -inf)."""
    if raw is not None:
        if _np is not None:
            return _np.frombuffer(raw, dtype="<f4").reshape(shape).copy()
        flat = list(struct.unpack(f"<{len(raw) // 4}f", raw))
        return _reshape(flat, list(shape))
    if _np is not None:
        return _np.array(_fill_masked(nested), dtype=_np.float32)
    return _fill_masked(nested)


def _fill_masked(v):
    if isinstance(v, list):
        return [_fill_masked(x) for x in v]
    return float("-inf") if v is None else v


def _reshape(flat, shape):
    if not shape:
        return flat[0]
    step = len(flat) // shape[0] if shape[0] else 0
    return [_reshape(flat[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])]


class Receipt:
    """Where a result is on the record: its log index and leaf hash, and the
    commitments of the request and result the log entry holds."""

    def __init__(self, http, receipt, request_body, result_sha256):
        self._http = http
        self.log_index = int(receipt["log_index"])
        self.leaf_hash = base64.b64decode(receipt["leaf_hash"])
        self.request_sha256 = receipt.get("request_sha256")
        self.result_sha256 = receipt.get("result_sha256")
        self.model_sha256 = receipt.get("model_sha256")
        self._request_body = request_body
        self._computed_result_sha256 = result_sha256

    def __repr__(self):
        return f"Receipt(log_index={self.log_index}, leaf_hash={self.leaf_hash.hex()})"

    def verify(self, verifier_key=None):
        """Checks, trusting nothing the server says: the checkpoint's signature
        (with `verifier_key`, the log's published key you trust; by default the
        one /log/key serves now), the inclusion proof of this entry in that
        checkpoint's tree, that the entry is the one the leaf hash names, and
        that it commits to exactly this request and this result. Returns the
        log entry (a dict); raises log.VerificationError otherwise."""
        vkey = verifier_key or self._http.get("/log/key").decode().strip()
        _, size, root = log.open_checkpoint(self._http.get("/log/checkpoint").decode(), vkey)
        proof = json.loads(self._http.get(f"/log/proof/inclusion?index={self.log_index}&size={size}"))
        path = [base64.b64decode(h) for h in proof["proof"]]
        if log.root_from_inclusion_proof(self.log_index, size, self.leaf_hash, path) != root:
            raise log.VerificationError("the inclusion proof does not lead to the signed checkpoint's root")
        page = json.loads(self._http.get(f"/log/entries?start={self.log_index}&end={self.log_index + 1}"))
        entry = page["entries"][0]["entry"]
        if log.leaf_hash(entry.encode()) != self.leaf_hash:
            raise log.VerificationError("the log entry at this index is not the one the receipt names")
        details = json.loads(entry)["details"]
        if details.get("request_sha256") != hashlib.sha256(self._request_body).hexdigest():
            raise log.VerificationError("the log entry commits to another request")
        if details.get("result_sha256") != self._computed_result_sha256:
            raise log.VerificationError("the log entry commits to another result")
        return json.loads(entry)


class Cache(dict):
    """Activations by hook name (TransformerLens shapes for one input), with
    the rest of the answer: tokens, top_logprobs, target_logprobs,
    logit_lens, generated, usage, and the receipt."""

    tokens = top_logprobs = target_logprobs = logit_lens = generated = usage = receipt = None


class _Http:
    def __init__(self, base_url, key, timeout):
        self.base_url, self.key, self.timeout = base_url.rstrip("/"), key, timeout

    def _open(self, request):
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            body = e.read()
            try:
                err = json.loads(body)["error"]
                raise ResearchError(e.code, err.get("message"), err.get("code"), err.get("param")) from None
            except (ValueError, KeyError, TypeError):
                raise ResearchError(e.code, body.decode(errors="replace")) from None

    def post(self, path, body, accept=None):
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        if accept:
            headers["Accept"] = accept
        status, resp_headers, payload = self._open(
            urllib.request.Request(self.base_url + path, data=data, headers=headers, method="POST"))
        return data, resp_headers, payload

    def get(self, path):
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        return self._open(urllib.request.Request(self.base_url + path, headers=headers))[2]


def _json_or_error(payload):
    answer = json.loads(payload)
    if isinstance(answer, dict) and "error" in answer and "receipt" not in answer:
        err = answer["error"]
        raise ResearchError(200, err.get("message"), err.get("code"), err.get("param"))
    return answer


class HookedModel:
    """One model on one Aperture server, at the caller's research level.

        model = HookedModel("http://127.0.0.1:8080", "tiny", key="ak_...")
        cache = model.run_with_cache("Once upon a time", names_filter="blocks.*.hook_resid_post")
        cache["blocks.3.hook_resid_post"].shape   # (pos, d_model)
        cache.receipt.verify()
    """

    def __init__(self, base_url, model, key=None, timeout=600):
        self.model = model
        self._http = _Http(base_url, key, timeout)
        self._cfg = None

    # -- the model

    @property
    def cfg(self):
        """The model's dimensions under TransformerLens's names (n_layers, d_model, n_heads, ...)."""
        if self._cfg is None:
            self._request("/v1/research/run", {"model": self.model, "input": [0], "bos": False})
        return self._cfg

    def block_sites(self):
        """This model's sites of one block, in forward order (its architecture's own included)."""
        sites = list(BLOCK_SITES)
        for flag, after, added in ARCH_SITES:
            if self.cfg.get(flag):
                at = sites.index(after) + 1
                sites[at:at] = added
        return sites

    def hook_names(self):
        names = ["hook_embed"]
        sites = self.block_sites()
        for layer in range(self.cfg["n_layers"]):
            names += [f"blocks.{layer}.{s}" for s in sites]
        return names + ["ln_final.hook_scale", "ln_final.hook_normalized"]

    # -- requests

    def _request(self, path, body, accept=None):
        request_bytes, headers, payload = self._http.post(path, body, accept)
        if headers.get("Content-Type", "").startswith("application/octet-stream"):
            meta, tensors = safetensors.parse(payload)
            answer = json.loads(meta.get("aperture", "{}"))
            if "error" in answer and "receipt" not in answer:
                raise ResearchError(200, answer["error"].get("message"), answer["error"].get("code"))
            return request_bytes, answer, tensors
        answer = _json_or_error(payload)
        if isinstance(answer, dict) and "config" in answer:
            self._cfg = answer["config"]
        return request_bytes, answer, None

    def _captures(self, names_filter, positions, heads, reduce, ungroup):
        if names_filter is None:
            return []
        if callable(names_filter):
            patterns = self._compress([n for n in self.hook_names() if names_filter(n)])
        elif isinstance(names_filter, str):
            patterns = [names_filter]
        else:
            patterns = list(names_filter)
        if len(patterns) > MAX_CAPTURES:
            raise ValueError(f"names_filter selects {len(patterns)} site patterns; a request takes {MAX_CAPTURES}")
        extra = _where(positions=positions, heads=heads)
        if reduce is not None:
            extra["reduce"] = reduce
        if ungroup:
            extra["ungroup"] = True
        return [{"hook": p, **extra} if extra else p for p in patterns]

    def _compress(self, names):
        """Names as few patterns: a site selected in every layer becomes blocks.*.site."""
        layers = self.cfg["n_layers"]
        chosen, out = set(names), []
        for site in self.block_sites():
            every = [f"blocks.{l}.{site}" for l in range(layers)]
            if all(n in chosen for n in every):
                out.append(f"blocks.*.{site}")
                chosen -= set(every)
        return out + [n for n in names if n in chosen]

    def _cache(self, request_bytes, answer, tensors, index=None):
        part = answer if index is None else answer["results"][index]
        cache = Cache()
        if tensors is not None:
            prefix = "" if index is None else f"{index}/"
            for name, (shape, raw) in tensors.items():
                if name.startswith(prefix) and (index is not None or "/" not in name):
                    cache[name[len(prefix):]] = _array(None, shape, raw)
        else:
            for name, nested in part.get("captures", {}).items():
                cache[name] = _array(nested)
        cache.tokens = part.get("tokens")
        cache.top_logprobs = part.get("top_logprobs")
        cache.target_logprobs = part.get("target_logprobs")
        cache.logit_lens = part.get("logit_lens")
        cache.generated = part.get("generated")
        cache.usage = answer.get("usage")
        cache.receipt = Receipt(self._http, answer["receipt"], request_bytes, self._commitment(answer, tensors))
        return cache

    @staticmethod
    def _commitment(answer, tensors):
        if tensors is None:
            return commitment.of_json_answer(answer)
        obj = {k: v for k, v in answer.items() if k != "receipt"}
        for name, (shape, raw) in tensors.items():
            d = commitment.descriptor(shape, raw)
            if "/" in name:
                i, site = name.split("/", 1)
                obj["results"][int(i)].setdefault("captures", {})[site] = d
            else:
                obj.setdefault("captures", {})[name] = d
        return commitment.sha256_of(obj)

    def _run(self, input, captures=(), fwd_hooks=(), top_k=None, targets=None, logit_lens=None, generate=None,
             bos=None, format="json"):
        body = {"model": self.model}
        body["inputs" if isinstance(input, list) and input and not isinstance(input[0], int) else "input"] = input
        if bos is not None:
            body["bos"] = bool(bos)
        if captures:
            body["capture"] = list(captures)
        if fwd_hooks:
            body["interventions"] = _interventions(fwd_hooks)
        ret = {}
        if top_k:
            ret["top_k"] = int(top_k)
        if targets:
            ret["targets"] = list(targets)
        if logit_lens:
            ret["logit_lens"] = logit_lens if isinstance(logit_lens, dict) else {"top_k": int(logit_lens)}
        if ret:
            body["return"] = ret
        if generate:
            body["generate"] = generate if isinstance(generate, dict) else {"max_tokens": int(generate)}
        accept = "application/octet-stream" if format == "safetensors" else None
        request_bytes, answer, tensors = self._request("/v1/research/run", body, accept)
        if "results" in answer:
            return [self._cache(request_bytes, answer, tensors, i) for i in range(len(answer["results"]))]
        return self._cache(request_bytes, answer, tensors)

    def run_with_cache(self, input, names_filter=None, *, positions=None, heads=None, reduce=None, ungroup=False,
                       fwd_hooks=(), top_k=None, targets=None, logit_lens=None, bos=None, format="json"):
        """Activations at the sites `names_filter` names (a pattern such as
        "blocks.*.hook_resid_post", a list of them, or a function of the hook
        name), for text, token ids, or a list of inputs (a list of caches).
        format="safetensors" for large results."""
        captures = self._captures(names_filter, positions, heads, reduce, ungroup)
        return self._run(input, captures, fwd_hooks, top_k, targets, logit_lens, None, bos, format)

    def run_with_hooks(self, input, fwd_hooks, *, top_k=10, targets=None, generate=None, bos=None):
        """The model's next-token logprobs (top_k, targets) with interventions:
        fwd_hooks=[("blocks.3.hook_resid_post", add(v, scale=4)), ...]."""
        return self._run(input, (), fwd_hooks, top_k, targets, None, generate, bos)

    def generate(self, input, max_tokens=32, fwd_hooks=(), temperature=0.0, seed=None):
        """Steered generation: the text generated with the interventions on."""
        g = {"max_tokens": int(max_tokens), "temperature": float(temperature)}
        if seed is not None:
            g["seed"] = int(seed)
        result = self._run(input, (), fwd_hooks, generate=g)
        return result.generated["text"]

    def patch(self, clean, corrupted, sites, metric, fwd_hooks=()):
        """An activation-patching sweep: for each site pattern, the metric per
        (layer, position) or (layer, head), 0 for the corrupted run and 1 for
        the clean one. metric: {"logit_diff": [a, b]} or {"logprob": t}."""
        body = {"model": self.model, "clean": clean, "corrupted": corrupted,
                "sites": [sites] if isinstance(sites, str) else list(sites), "metric": metric}
        if fwd_hooks:
            body["interventions"] = _interventions(fwd_hooks)
        request_bytes, answer, _ = self._request("/v1/research/patch", body)
        out = PatchResult(answer)
        out.receipt = Receipt(self._http, answer["receipt"], request_bytes, commitment.of_json_answer(answer))
        return out

    def direction(self, hook, positive, negative, position="mean", normalize=False):
        """A steering vector: the mean of `hook` over the positive inputs minus over the negative ones."""
        body = {"model": self.model, "hook": hook, "positive": list(positive), "negative": list(negative),
                "position": position, "normalize": bool(normalize)}
        request_bytes, answer, _ = self._request("/v1/research/directions", body)
        vector = _np.array(answer["vector"], dtype=_np.float32) if _np is not None else answer["vector"]
        return Direction(vector, answer, Receipt(self._http, answer["receipt"], request_bytes,
                                                 commitment.of_json_answer(answer)))


class PatchResult(dict):
    """Patching matrices by site pattern (rows: the sites, one per layer;
    columns: positions or heads), normalised; .raw has the metric itself."""

    def __init__(self, answer):
        super().__init__()
        self.clean, self.corrupted = answer["clean"], answer["corrupted"]
        self.raw, self.rows, self.receipt = {}, {}, None
        for r in answer["results"]:
            nan = float("nan")
            values = [[nan if x is None else x for x in row] for row in r["values"]]
            raw = [[nan if x is None else x for x in row] for row in r["raw"]]
            self[r["sites"]] = _np.array(values) if _np is not None else values
            self.raw[r["sites"]] = _np.array(raw) if _np is not None else raw
            self.rows[r["sites"]] = r["rows"]


class Direction:
    def __init__(self, vector, answer, receipt):
        self.vector, self.norm, self.hook, self.receipt = vector, answer["norm"], answer["hook"], receipt
        self.shape = answer["shape"]
