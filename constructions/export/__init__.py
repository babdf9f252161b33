"""Export the hand-set models to PyTorch and TransformerLens, and import them back.

Needs the optional extra: ``pip install -e ".[interp]"`` (torch and transformer-lens). The core
toolkit never imports this package; importing it without the extra works, and each function says
what to install when it is called.

* :func:`to_transformer_lens` (a runtime :class:`~constructions.runtime.transformer.Transformer` ->
  ``HookedTransformer``) and :func:`from_transformer_lens` (back, for ``--weights`` checks):
  :mod:`constructions.export.tlens`.
* :func:`to_torch`: a small ``torch.nn.Module`` for every model kind (Transformer, Linear RNN,
  hybrid) whose ``residual`` is the runtime's ``forward`` and whose ``forward`` gives the logits;
  :func:`greedy` decodes with any of them, with the regex retriever for RAG models:
  :mod:`constructions.export.torch_models`.
* :func:`named`, :func:`coordinate`, :func:`head_index`: read activations by residual coordinate
  name (``named(cache["resid_post", 4], hooked)[0, -1, "cnt"]``): :mod:`constructions.export.names`.
* :func:`compare_logits`: the parity measure used by ``python -m verify.export --check`` and the
  tests: :mod:`constructions.export.parity`.
* :func:`save` / :func:`load`: ``.pt`` files with a JSON sidecar: :mod:`constructions.export.files`.
"""

from __future__ import annotations

from constructions.export.names import EXPORT_ONE, coordinate, head_index, named

INSTALL_HINT = 'the export needs the optional extra: pip install -e ".[interp]" (torch and transformer-lens)'


def require(module: str):
    """Import ``module`` (torch, transformer_lens) or raise an ImportError that says what to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{INSTALL_HINT}; cannot import {module} ({exc})") from None


def to_transformer_lens(model, **kwargs):
    from constructions.export.tlens import to_transformer_lens as impl

    return impl(model, **kwargs)


def from_transformer_lens(hooked, **kwargs):
    from constructions.export.tlens import from_transformer_lens as impl

    return impl(hooked, **kwargs)


def to_torch(model):
    from constructions.export.torch_models import to_torch as impl

    return impl(model)


def greedy(module, prompt, stop_ids, max_steps, retriever=None):
    from constructions.export.torch_models import greedy as impl

    return impl(module, prompt, stop_ids, max_steps, retriever)


def compare_logits(model, exported, ids, lengths, **kwargs):
    from constructions.export.parity import compare_logits as impl

    return impl(model, exported, ids, lengths, **kwargs)


def save(exported, path, **kwargs):
    from constructions.export.files import save as impl

    return impl(exported, path, **kwargs)


def load(path):
    from constructions.export.files import load as impl

    return impl(path)


__all__ = ["EXPORT_ONE", "INSTALL_HINT", "compare_logits", "coordinate", "from_transformer_lens", "greedy",
           "head_index", "load", "named", "require", "save", "to_torch", "to_transformer_lens"]
