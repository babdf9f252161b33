"""Exported models on disk: one ``.pt`` file (``torch.save`` of plain data; loads with
``torch.load(path, weights_only=True)``) and, written beside it by ``python -m verify.export``, a JSON
sidecar.

* ``format = "transformer-lens"``: ``config`` (the HookedTransformerConfig arguments, dtype by name),
  ``residual_names``, ``toolkit`` (see :mod:`constructions.export.tlens`) and ``state_dict`` (every
  parameter of the HookedTransformer). :func:`load` rebuilds the ``HookedTransformer``.
* ``format = "torch"``: ``header`` (the runtime's own description as JSON: kind, vocabulary, layout,
  block, head and unit names, metadata; the ``.npz`` header of :mod:`constructions.runtime.io`) and
  ``arrays`` (the weights under the runtime's names). :func:`load` rebuilds the torch module.
"""

from __future__ import annotations

import json
import os

from constructions.export import require

torch = require("torch")

FORMATS = ("transformer-lens", "torch")
FORMAT_VERSION = 1


def sidecar_path(path: str) -> str:
    """``m.pt`` -> ``m.json`` (any other name: ``name.json`` appended)."""
    stem, ext = os.path.splitext(path)
    return stem + ".json" if ext == ".pt" else path + ".json"


def payload(exported) -> dict:
    """What :func:`save` writes for an exported model (a HookedTransformer or a module of torch_models)."""
    from constructions.export.torch_models import _TorchLM

    if isinstance(exported, _TorchLM):
        arrays = {k: v.detach().cpu().clone() for k, v in exported.named_arrays().items()}
        return {"format": "torch", "format_version": FORMAT_VERSION, "kind": exported.kind,
                "header": json.dumps(exported.header, sort_keys=True), "arrays": arrays}
    from constructions.export import tlens

    cfg = exported.cfg
    if not isinstance(cfg, tlens.NamedConfig):
        raise ValueError("only HookedTransformers made by to_transformer_lens can be saved (no residual names)")
    args = tlens.config_args_of(cfg)
    state = {k: v.detach().cpu().clone() for k, v in exported.named_parameters()}
    return {"format": "transformer-lens", "format_version": FORMAT_VERSION, "config": args,
            "residual_names": list(cfg.residual_names), "toolkit": json.dumps(cfg.toolkit, sort_keys=True),
            "state_dict": state}


def save(exported, path: str) -> None:
    torch.save(payload(exported), path)


def load(path: str):
    """The exported model saved at ``path`` (a one-line ValueError for anything else)."""
    if not os.path.isfile(path):
        raise ValueError(f"exported model file not found: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a file it cannot read
        raise ValueError(f"cannot read {path} as an exported model: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict) or data.get("format") not in FORMATS:
        raise ValueError(f"{path} is not a model written by constructions.export (no known 'format')")
    if data.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: format version {data.get('format_version')!r}, expected {FORMAT_VERSION}")
    try:
        if data["format"] == "torch":
            from constructions.export.torch_models import to_torch
            from constructions.runtime import io as model_io

            arrays = {k: v.numpy() for k, v in data["arrays"].items()}
            return to_torch(model_io.from_arrays(json.loads(data["header"]), arrays, path))
        from constructions.export import tlens

        cfg = tlens.make_config(data["config"], data["residual_names"], json.loads(data["toolkit"]))
        hooked = tlens.new_hooked(cfg)
        tlens.load_state(hooked, data["state_dict"])
        return hooked.eval()
    except KeyError as exc:
        raise ValueError(f"{path}: the file lacks entry {exc}") from None
