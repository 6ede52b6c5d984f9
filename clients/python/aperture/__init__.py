"""Aperture's research client: a model's internals over the research API,
shaped like TransformerLens (see clients/python/README.md)."""

from .log import VerificationError
from .model import (Cache, Direction, HookedModel, PatchResult, Receipt, ResearchError, add, mean, patch, scale,
                    set_, zero)

__all__ = ["HookedModel", "Cache", "PatchResult", "Direction", "Receipt", "ResearchError", "VerificationError",
           "add", "set_", "scale", "zero", "mean", "patch"]
