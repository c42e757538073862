"""Reading checkpoints without running code: `torch.load(weights_only=True)` accepts tensors and
plain values (dicts, lists, numbers, strings) only, so a crafted checkpoint's pickle payload is
refused instead of executed (SECURITY.md). Every checkpoint this project writes is of that kind."""

from __future__ import annotations

import pickle

import torch

from ..runtime.errors import ModelError


def read(path, map_location="cpu") -> dict:
    """A checkpoint's contents, or a ModelError naming the file when it holds anything else."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelError(
            f"checkpoint {path} is not a plain checkpoint (tensors and plain values only; a file "
            f"that needs more could run code when loaded): {first}"
        ) from None
    except FileNotFoundError:
        raise ModelError(f"checkpoint {path} does not exist") from None
