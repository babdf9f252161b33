"""Residual coordinates by name on exported models.

Every runtime model has a named residual layout (``num``, ``pos``, ``cnt``, ...). An exported model
keeps those names: a ``HookedTransformer`` from :func:`~constructions.export.to_transformer_lens`
has them in ``hooked.cfg.residual_names`` (the layout, then :data:`EXPORT_ONE`), a torch module from
:func:`~constructions.export.to_torch` in ``module.residual_names``.

    >>> logits, cache = hooked.run_with_cache(tokens)
    >>> named(cache["resid_post", 4], hooked)[0, -1, "cnt"]        # one coordinate
    >>> named(cache["resid_post", 4], hooked)[0, -1, ["x", "x2"]]  # several
    >>> named(cache["resid_post", 4], hooked).row(0, -1)           # {name: value} at one position

No torch import here: this works on any array that takes integer indices.
"""

from __future__ import annotations

from typing import Any

# The exported TransformerLens model has one coordinate more than the layout: a constant 1 (written by
# the position embedding at every position) that carries the ReGLU biases b_1, b_2, because
# TransformerLens's gated MLP has no bias before its product (see constructions/export/tlens.py).
EXPORT_ONE = "export:one"


def residual_names(model) -> list[str]:
    """The residual coordinate names of a runtime model, an exported torch module or a HookedTransformer."""
    cfg = getattr(model, "cfg", None)
    if cfg is not None and getattr(cfg, "residual_names", None):
        return list(cfg.residual_names)
    if getattr(model, "residual_names", None):
        return list(model.residual_names)
    layout = getattr(model, "layout", None)
    if layout is not None:
        return list(layout.names)
    raise ValueError("this model carries no residual names (it was not exported by constructions.export)")


def coordinate(model, name: str) -> int:
    """The index of the residual coordinate called ``name``."""
    names = residual_names(model)
    try:
        return names.index(name)
    except ValueError:
        raise KeyError(f"no residual coordinate named {name!r}; there are: {', '.join(names)}") from None


def head_index(model, name: str) -> tuple[int, int]:
    """(layer, head) of the attention head called ``name`` (e.g. ``"NEXT"``) in an exported model."""
    blocks = _toolkit(model).get("blocks", [])
    hits = [(i, j) for i, b in enumerate(blocks) for j, h in enumerate(b.get("heads", [])) if h == name]
    if not hits:
        have = [h for b in blocks for h in b.get("heads", [])]
        raise KeyError(f"no head named {name!r}; there are: {', '.join(have)}")
    if len(hits) > 1:
        raise KeyError(f"head name {name!r} is not unique: {hits}")
    return hits[0]


def _toolkit(model) -> dict:
    cfg = getattr(model, "cfg", None)
    info = getattr(cfg, "toolkit", None) if cfg is not None else None
    if info is None:
        info = getattr(model, "toolkit", None)
    if not info:
        raise ValueError("this model carries no toolkit metadata (it was not exported by constructions.export)")
    return info


class Named:
    """An activation whose last axis is the residual stream, indexed by coordinate names."""

    def __init__(self, values, names: list[str]):
        if values.shape[-1] != len(names):
            raise ValueError(f"the last axis has {values.shape[-1]} entries but the model has {len(names)} "
                             "residual coordinates (is this a residual-stream activation?)")
        self.values, self.names = values, list(names)
        self._index = {n: i for i, n in enumerate(self.names)}

    def _resolve(self, key: Any):
        if isinstance(key, str):
            if key not in self._index:
                raise KeyError(f"no residual coordinate named {key!r}")
            return self._index[key]
        if isinstance(key, (list, tuple)) and key and all(isinstance(k, str) for k in key):
            return [self._resolve(k) for k in key]
        return key

    def __getitem__(self, key):
        if isinstance(key, tuple):
            return self.values[tuple(key[:-1]) + (self._resolve(key[-1]),)]
        return self.values[..., self._resolve(key)] if isinstance(key, (str, list)) else self.values[key]

    def row(self, *position) -> dict[str, float]:
        """``{name: value}`` of the residual at ``position`` (e.g. ``row(0, -1)``: batch 0, last token)."""
        vec = self.values[tuple(position)]
        return {n: float(vec[i]) for i, n in enumerate(self.names)}

    def nonzero(self, *position, skip: tuple[str, ...] = ()) -> dict[str, float]:
        """The nonzero coordinates at ``position``, by name (``skip`` names to leave out)."""
        return {n: v for n, v in self.row(*position).items() if v != 0 and n not in skip}


def named(values, model) -> Named:
    """Wrap a residual-stream activation (``resid_pre``, ``resid_post``, ``attn_out``, ...) of an
    exported model so that coordinates can be read by name: ``named(x, hooked)[..., "cnt"]``."""
    return Named(values, residual_names(model))
