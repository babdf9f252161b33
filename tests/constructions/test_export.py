"""constructions.export: the TransformerLens and torch exports agree with the runtime.

Every construction of the catalogue is exported (TransformerLens for the Transformers, torch for
every family) and run next to the numpy runtime on every sequence of a small exhaustive domain the
checkers use (IsTree n = 5, retrieval n = 6, Turing machines up to length 3, the Thm 4.8 chain up to
length 1, circuit RNNs up to length 6): logits within 1e-9
relative, identical arg-max, and the round trip back to a runtime model keeps the weights hash.

These tests need the optional extra (pip install -e ".[dev,interp]", as the README's test command
does). Without it they are skipped on a developer's machine, and under CI (CI set) they fail, so
that CI can never pass them by skipping.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from constructions import registry
from constructions.runtime import io as model_io
from constructions.runtime.retrieve import Retriever
from theory.tasks.istree import IstreeTask, parse_graph
from verify import core

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOL = 1e-9
FIG3 = "2-6,1-5,3-5,4-6,2-3"  # the paper's Fig 3 graph (n = 6, x = 0101, k = 2): a tree


# -- without the extra ------------------------------------------------------------------------------
def _pyproject() -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as handle:
        return tomllib.load(handle)


def _names(requirements) -> set[str]:
    return {re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].strip().lower().replace("_", "-") for r in requirements}


def test_core_install_does_not_pull_in_torch():
    project = _pyproject()["project"]
    core_reqs = _names(project["dependencies"]) | _names(project["optional-dependencies"]["dev"])
    assert not core_reqs & {"torch", "transformer-lens", "transformers"}
    interp = project["optional-dependencies"]["interp"]
    assert "torch==2.13.0" in interp  # the CPU wheel's release: an unpinned torch may pull a CUDA build
    assert any(r.startswith("transformer-lens") and "<4" in r for r in interp)  # 4.0 removed HookedTransformer


def test_ci_runs_exactly_the_readme_quick_start():
    with open(os.path.join(ROOT, "README.md")) as handle:
        readme = handle.read()
    block = readme.split("## Quick start", 1)[1].split("```", 2)[1]
    commands = [line.strip() for line in block.splitlines() if line.strip()]
    with open(os.path.join(ROOT, ".ci", "run")) as handle:
        ci = [line.strip() for line in handle if line.strip() and not line.lstrip().startswith("#")]
    assert ci[-len(commands):] == commands
    assert any('".[dev,interp]"' in c and "pytest" in c for c in commands)  # the tests run with the extra


def test_core_modules_never_import_torch():
    code = ("import sys; import constructions.registry, constructions.export, verify.istree, verify.export, "
            "verify.retrieval, verify.turing; "
            "print(sorted(m for m in ('torch', 'transformer_lens') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# -- with the extra ---------------------------------------------------------------------------------
def _require_interp():
    if os.environ.get("CI"):
        import torch  # noqa: F401  (CI installs the extra: a missing one is a failure, never a skip)
        import transformer_lens  # noqa: F401
    else:
        pytest.importorskip("torch")
        pytest.importorskip("transformer_lens")


@pytest.fixture(scope="module")
def torch():
    _require_interp()
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two threads on a shared 2-core machine are ~10x slower (verify/export.py)
    yield torch
    torch.set_num_threads(threads)


def _size(c) -> int:
    return {"istree": 5, "turing": 3}.get(c.task.name, 6)


def _task(c, machine="palindrome"):
    if c.name == "turing/transformer":  # the Thm 4.8 chain: 2^L prompt steps of C + 1 tokens each
        return registry.task_of_size(c.task, 1, machine=machine)
    if c.task.name == "turing":
        return registry.task_of_size(c.task, 3, machine=machine)
    return registry.task_of_size(c.task, _size(c))


def _sequences(c, task, model):
    domain = task.domain()
    return [core.build_sequences(c, task, model, domain.chunk(i)[1]) for i in range(domain.n_chunks)]


def _parity(model, exported, seqs):
    from constructions.export import compare_logits
    from constructions.export.parity import Parity

    total = Parity()
    for s in seqs:
        total.add(compare_logits(model, exported, s.ids, s.lengths))
    return total


CASES = [(c, "palindrome") for c in registry.CATALOGUE] + \
        [(c, "binary_add") for c in registry.CATALOGUE if c.task.name == "turing" and c.family != "transformer"]
# (binary_add's chain Transformer: C = 885 gates per RNN step, 150 s in torch even at length 1)
IDS = [f"{c.name}{'-' + m if c.task.name == 'turing' else ''}" for c, m in CASES]


@pytest.mark.parametrize("construction,machine", CASES, ids=IDS)
def test_torch_export_matches_the_runtime_on_the_whole_domain(torch, construction, machine):
    from constructions.export import to_torch

    task = _task(construction, machine)
    model = construction.build(task)
    module = to_torch(model)
    seqs = _sequences(construction, task, model)
    r = _parity(model, module, seqs)
    assert r.sequences == task.domain().size > 0
    assert r.max_rel <= TOL and r.argmax_differ == 0 and r.argmax_compared > 0, r
    # forward = the runtime's forward (the residual), not only the logits
    s = seqs[0]
    with torch.no_grad():
        res = module.residual(torch.as_tensor(s.ids[:32])).numpy()
    ref = model.forward(s.ids[:32])
    assert np.max(np.abs(res - ref)) <= TOL * max(1.0, np.max(np.abs(ref)))
    assert model_io.weights_sha256(module.to_runtime()) == model_io.weights_sha256(model)


TRANSFORMERS = [c for c in registry.CATALOGUE if c.family == "transformer"]


@pytest.mark.parametrize("construction", TRANSFORMERS, ids=[c.name for c in TRANSFORMERS])
def test_transformer_lens_export_matches_the_runtime_on_the_whole_domain(torch, construction):
    from constructions.export import from_transformer_lens, to_transformer_lens

    task = _task(construction)
    model = construction.build(task)
    hooked = to_transformer_lens(model)
    r = _parity(model, hooked, _sequences(construction, task, model))
    assert r.sequences == task.domain().size > 0
    assert r.max_rel <= TOL and r.argmax_differ == 0 and r.argmax_compared > 0, r
    back = from_transformer_lens(hooked)
    assert model_io.weights_sha256(back) == model_io.weights_sha256(model)
    assert hooked.cfg.toolkit["weights_sha256"] == model_io.weights_sha256(model)
    # padding: one n_heads and d_mlp for all blocks; the extra heads and units are exactly zero
    assert hooked.cfg.n_heads == max(len(b.heads) for b in model.blocks)
    for i, block in enumerate(model.blocks):
        attn, mlp = hooked.blocks[i].attn, hooked.blocks[i].mlp
        assert not attn.W_O[len(block.heads):].any()
        width = block.ffn.width if block.ffn is not None else 0
        assert not mlp.W_out[width:].any() and not mlp.W_gate[:, width:].any()


@pytest.fixture(scope="module")
def istree5(torch):
    from constructions.export import to_transformer_lens

    c = registry.get("istree", "transformer")
    task = IstreeTask(5)
    model = c.build(task)
    return c, task, model, to_transformer_lens(model)


def test_every_block_residual_matches_by_name(istree5, torch):
    from constructions.export import EXPORT_ONE, named

    c, task, model, hooked = istree5
    s = _sequences(c, task, model)[0]
    ids = s.ids[:40]
    _, dump = model.forward(ids, dump=True)
    with torch.no_grad():
        _, cache = hooked.run_with_cache(torch.as_tensor(ids))
    for i in range(len(model.blocks)):
        got = named(cache["resid_post", i], hooked)
        ref = dump[i + 1]["residual"]
        assert np.max(np.abs(got[..., model.layout.names].numpy() - ref)) <= TOL * np.max(np.abs(ref))
        assert np.all(got[..., EXPORT_ONE].numpy() == 1.0)
    k = int(s.lengths[0]) - 1
    assert float(named(cache["resid_post", 1], hooked)[0, k, "cnt"]) == pytest.approx(
        dump[2]["residual"][0, k, model.layout["cnt"]], rel=TOL)
    assert named(cache["resid_post", 6], hooked).row(0, k)["pos"] == k + 1


def test_head_names_and_attention_patterns(istree5, torch):
    from constructions.export import head_index

    c, task, model, hooked = istree5
    layer, head = head_index(hooked, "NEXT")
    assert model.blocks[layer].heads[head].name == "NEXT"
    ids = _sequences(c, task, model)[0].ids[:8]
    _, dump = model.forward(ids, dump=True)
    with torch.no_grad():
        _, cache = hooked.run_with_cache(torch.as_tensor(ids))
    pattern = cache["pattern", layer][:, head].numpy()
    assert np.max(np.abs(pattern - dump[layer + 1]["attention"]["NEXT"])) < 1e-12
    with pytest.raises(KeyError, match="no head named"):
        head_index(hooked, "NOPE")


def test_the_comparison_sees_a_tiny_edit(istree5, torch):
    from constructions.export import compare_logits, to_transformer_lens

    c, task, model, _ = istree5
    hooked = to_transformer_lens(model)
    layer = len(model.blocks) - 1
    with torch.no_grad():
        hooked.blocks[layer].mlp.W_out[0, 0] += 1e-6  # the read-out FFN writes num
    s = _sequences(c, task, model)[0]
    r = compare_logits(model, hooked, s.ids, s.lengths)
    assert r.max_rel > TOL and not r.ok()


def test_representable_edits_come_back_and_keep_parity(istree5, torch):
    from constructions.export import from_transformer_lens, to_transformer_lens

    c, task, model, _ = istree5
    hooked = to_transformer_lens(model)
    with torch.no_grad():  # block 1 (0-based 0) has no heads: bring padding head 0 to life
        attn = hooked.blocks[0].attn
        attn.W_Q[0, model.layout["pos"], 0] = 1.0
        attn.W_K[0, model.layout["pos"], 0] = 1.0
        attn.W_V[0, model.layout["is_num"], 0] = 1.0
        attn.W_O[0, 0, model.layout["vis"]] = 0.5
        hooked.blocks[0].mlp.b_in[0] = 0.25  # folds into b_3
    edited = from_transformer_lens(hooked)
    assert [h.name for h in edited.blocks[0].heads] == ["head0"]
    assert model_io.weights_sha256(edited) != model_io.weights_sha256(model)
    assert _parity(edited, hooked, _sequences(c, task, model)).max_rel <= TOL


@pytest.mark.parametrize("edit,message", [
    (lambda h, L: h.embed.W_E.data.__setitem__((3, 0), 7.0), "embed.W_E"),
    (lambda h, L: h.unembed.W_U.data.__setitem__((L["cnt"], 2), 1.0), "unembed.W_U"),
    (lambda h, L: h.blocks[2].attn.b_Q.data.__setitem__((0, 0), 1.0), "attention bias"),
    (lambda h, L: h.blocks[2].attn.W_K.data.__setitem__((0, -1, 0), 1.0), "constant coordinate"),
    (lambda h, L: h.blocks[2].mlp.W_out.data.__setitem__((0, -1), 1.0), "constant coordinate"),
])
def test_edits_outside_def_3_1_are_refused(istree5, torch, edit, message):
    from constructions.export import from_transformer_lens, to_transformer_lens

    _, _, model, _ = istree5
    hooked = to_transformer_lens(model)
    edit(hooked, model.layout)
    with pytest.raises(ValueError, match=message):
        from_transformer_lens(hooked)


def test_corrupted_transformer_lens_weight_is_caught_by_the_checker(istree5, torch, tmp_path, capsys):
    from constructions.export import coordinate, from_transformer_lens, head_index, to_transformer_lens
    from verify.istree import main

    _, _, model, _ = istree5
    hooked = to_transformer_lens(model)
    layer, head = head_index(hooked, "NEXT")
    with torch.no_grad():  # the NEXT head no longer writes the next edge's other endpoint
        hooked.blocks[layer].attn.W_O[head, :, coordinate(hooked, "o1")] = 0.0
    path = tmp_path / "corrupt.npz"
    model_io.save(from_transformer_lens(hooked), str(path))
    assert main(["--n", "5", "--weights", str(path), "--no-progress", "--workers", "1"]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "smallest counterexample" in out and "expected" in out
    clean = tmp_path / "clean.npz"
    model_io.save(from_transformer_lens(to_transformer_lens(model)), str(clean))
    assert main(["--n", "5", "--weights", str(clean), "--no-progress", "--workers", "1"]) == 0


def test_fig3_trace_and_next_head_ablation(torch):
    """The worked example of docs/interp.md: the Fig 3 graph decodes to its Euler tour and YES, and
    zeroing the NEXT head's output breaks the trace."""
    from constructions.export import greedy, head_index, to_transformer_lens

    task = IstreeTask(6)
    model = registry.get("istree", "transformer").build(task)
    hooked = to_transformer_lens(model)
    vocab = model.vocab
    graph = parse_graph(FIG3, 6)
    prompt = list(vocab.ids(task.prompt(graph)))
    stop = set(task.answer_set_ids(vocab).tolist())
    out, stopped = greedy(hooked, prompt, stop, 20)
    assert vocab.tokens(out) == ["1", "5", "3", "2", "6", "4", "6", "2", "3", "5", "1", "YES"] and stopped
    layer, head = head_index(hooked, "NEXT")

    def ablate(z, hook):
        z[:, :, head] = 0.0
        return z

    hooked.add_hook(f"blocks.{layer}.attn.hook_z", ablate)
    try:
        broken, _ = greedy(hooked, prompt, stop, 20)
    finally:
        hooked.reset_hooks()
    assert vocab.tokens(broken) != vocab.tokens(out)


RAG = [c for c in registry.CATALOGUE if c.retrieval]


@pytest.mark.parametrize("construction", RAG, ids=[c.name for c in RAG])
def test_torch_greedy_decoding_with_the_retriever(torch, construction):
    """Greedy decoding of the torch module with the real retriever writes the reference chain of
    thought (searches, retrieved tokens, answer), and with the task's stop rule exactly what the
    runtime's greedy decoding writes."""
    from constructions.export import greedy, to_torch
    from constructions.runtime.decode import greedy as runtime_greedy

    task = registry.task_of_size(construction.task, 4) if construction.task.name == "istree" else _task(construction)
    model = construction.build(task)
    module = to_torch(model)
    vocab = model.vocab
    retriever = Retriever(vocab)
    stop = set(task.answer_set_ids(vocab).tolist())
    chunk = task.domain().chunk(0)[1]
    for r in (1, len(chunk) - 1):
        instance = task.instance(chunk, r)
        prompt = list(vocab.ids(task.prompt(instance)))
        reference = list(vocab.ids(construction.reference(task, instance)))
        out, _ = greedy(module, prompt, set(), len(reference), retriever)
        assert out[: len(reference)] == reference and retriever.end_id in out  # (retrieved tokens cost no step)
        stopped = greedy(module, prompt, stop, len(reference) + 1, retriever)
        assert stopped == runtime_greedy(model, prompt, stop, len(reference) + 1, retriever=retriever)


@pytest.mark.parametrize("fmt", ["transformer-lens", "torch"])
def test_files_round_trip(istree5, torch, tmp_path, fmt):
    from constructions.export import files, from_transformer_lens, to_torch

    c, task, model, hooked = istree5
    exported = hooked if fmt == "transformer-lens" else to_torch(model)
    path = str(tmp_path / "m.pt")
    files.save(exported, path)
    loaded = files.load(path)
    back = from_transformer_lens(loaded) if fmt == "transformer-lens" else loaded.to_runtime()
    assert model_io.weights_sha256(back) == model_io.weights_sha256(model)
    raw = torch.load(path, weights_only=True)  # plain data: no pickled code
    assert raw["format"] == fmt
    s = _sequences(c, task, model)[0]
    assert _parity(model, loaded, [s]).max_rel == 0.0


def test_files_refuse_other_files(torch, tmp_path):
    from constructions.export import files

    bad = tmp_path / "x.pt"
    torch.save({"a": 1}, str(bad))
    with pytest.raises(ValueError, match="not a model written by"):
        files.load(str(bad))
    (tmp_path / "y.pt").write_text("not torch")
    with pytest.raises(ValueError, match="cannot read"):
        files.load(str(tmp_path / "y.pt"))


def test_config_round_trips_through_its_arguments(istree5, torch):
    from constructions.export import tlens

    _, _, model, hooked = istree5
    assert tlens.config_args_of(hooked.cfg) == tlens.config_args(model)


def test_transformer_lens_refuses_rnns(torch):
    from constructions.export import to_transformer_lens

    model = registry.get("index", "rag").build(registry.task_of_size(registry.task_class("index"), 4))
    with pytest.raises(ValueError, match="use to_torch"):
        to_transformer_lens(model)


def test_the_docs_figure_script(torch, tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("interp_figure", os.path.join(ROOT, "docs", "interp_figure.py"))
    fig = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fig)
    run = fig.fig3_run()
    sep = run["sep"]
    reference = run["tokens"][sep + 1:]
    assert run["clean"][sep:-1] == reference
    wrong = [k + 1 for k in range(sep, len(run["tokens"]) - 1) if run["ablated"][k] != run["tokens"][k + 1]]
    assert wrong == [18, 19, 20, 21, 22]  # the five descents 1>5, 5>3, 3>2, 2>6, 6>4 (docs/interp.md)
    out = tmp_path / "f.png"
    fig.draw(run, str(out))
    assert out.stat().st_size > 10_000


@pytest.mark.parametrize("scale", [None, 0.25])
def test_other_score_scales_are_exported(torch, scale):
    """Def 3.1's own 1/sqrt(d) (score_scale None) and any other scale survive both exports."""
    from constructions.export import from_transformer_lens, to_torch, to_transformer_lens

    c = registry.get("counting", "transformer")
    task = _task(c)
    model = c.build(task)
    model.score_scale = scale
    seqs = _sequences(c, task, model)[:1]
    hooked = to_transformer_lens(model)
    assert hooked.cfg.use_attn_scale
    for exported in (hooked, to_torch(model)):
        r = _parity(model, exported, seqs)
        assert r.max_rel <= TOL and r.argmax_differ == 0, r
    assert model_io.weights_sha256(from_transformer_lens(hooked)) == model_io.weights_sha256(model)
