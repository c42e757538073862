"""Backbones by name (timm-style registry): `create(name, **kwargs)` returns an nn.Module with
`.num_features` whose forward maps (N, 3, H, W) to (N, num_features) pooled features."""

from __future__ import annotations

_REGISTRY = {}


def register(fn):
    _REGISTRY[fn.__name__] = fn
    return fn


def create(name: str, **kwargs):
    from . import mobilenet, resnet  # noqa: F401  (modules register their networks on import)

    if name not in _REGISTRY:
        raise ValueError(f"unknown network {name!r}; known: {sorted(_REGISTRY)}")
    return _REGISTRY[name](**kwargs)


def names() -> list[str]:
    from . import mobilenet, resnet  # noqa: F401

    return sorted(_REGISTRY)
