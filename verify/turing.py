"""Check a Turing-machine simulator on every input up to a length:
``python -m verify.turing --machine palindrome --max-len 8 --model rag``.

For each input string over the machine's alphabet (lengths 0..L, shortest first, then in the order of
the alphabet) the reference sequence of the model kind (for ``rag``: theory.rag_trace.tm_rag_trace,
the Thm 5.4 sequence written from the interpreter theory.turing.run) is appended to the prompt
``<s> sym:x_1 .. sym:x_n`` and the model runs once over it (teacher forcing). The input passes iff

* every token the model must produce (from the last prompt token on, except the tokens the
  retriever inserts after each ``<EndSearch>``) is the model's unique arg-max, so greedy decoding
  reproduces the sequence and its final YES/NO, which is the interpreter's verdict; and
* for RAG kinds, the real regex retriever (constructions.runtime.retrieve) returns exactly the
  reference's tokens after every ``<EndSearch>``.

--machine takes a library name (theory/machines) or a JSON file in the format of docs/turing.md.
--trace INPUT decodes one input greedily (with the retriever) and prints generated vs reference.
Exit codes: 0 verified, 1 counterexample (the smallest input is printed with its trace), 2 bad
usage, a bad machine file or an input outside the alphabet.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from dataclasses import dataclass
from importlib import import_module

import numpy as np

from constructions.runtime import io as model_io
from constructions.runtime.arithmetic import FLOAT64, Mode, parse_mode
from constructions.runtime.decode import greedy, model_check_mask, retrieval_positions, teacher_force
from constructions.runtime.retrieve import Retriever
from theory.tokens import NO, YES
from theory.turing import DEFAULT_MAX_STEPS, Machine, load_machine
from verify import cli

TOKEN_BUDGET = 24_000   # tokens per forward batch (bounds the (rows, L, FFN width) hidden array)
MAX_ROWS = 16           # rows per batch: numpy's stacked (rows, L, k) @ (k, m) slows down with rows
MAX_FAILURES_KEPT = 20
CONTEXT_SHOWN = 30      # reference tokens printed before a failing position


@dataclass(frozen=True)
class ModelKind:
    """One family of TM simulators.

    ``builder(machine, n_max, offset=, n_vocab=)`` returns the model; ``reference(machine, word,
    offset=)`` the token strings after the prompt, YES/NO last; ``prompt(machine, word)`` the prompt
    tokens. With ``rag`` the tokens after each ``<EndSearch>`` come from the real retriever.
    """

    builder: str
    reference: str
    rag: bool = False
    prompt: str = "theory.rag_trace:tm_prompt"
    theorem: str = ""

    def build(self, machine: Machine, n_max: int, offset: int, n_vocab: int):
        return _resolve(self.builder)(machine, n_max, offset=offset, n_vocab=n_vocab)

    def trace(self, machine: Machine, word, offset: int) -> list[str]:
        return _resolve(self.reference)(machine, word, offset=offset)

    def prompt_tokens(self, machine: Machine, word) -> list[str]:
        return _resolve(self.prompt)(machine, word)


def _resolve(path: str):
    module, name = path.split(":")
    return getattr(import_module(module), name)


MODEL_KINDS = {
    "rag": ModelKind("constructions.rag.turing:build_rag_turing", "theory.rag_trace:tm_rag_trace",
                     rag=True, theorem="Thm 5.4 (RAG Linear RNN)"),
    "hybrid": ModelKind("constructions.hybrid.turing:build_hybrid_turing", "theory.hybrid_trace:tm_hybrid_trace",
                        theorem="Thm 5.8 (hybrid Linear RNN + one attention layer)"),
}


# -- domain ----------------------------------------------------------------------------------------
def words_up_to(machine: Machine, max_len: int):
    """Every input of length 0..max_len: shortest first, then in alphabet order."""
    for n in range(max_len + 1):
        yield from itertools.product(machine.alphabet, repeat=n)


def domain_bounds(machine: Machine, words, n_max: int):
    from theory.rag_trace import tm_domain

    return tm_domain(machine, words, n_max, max_steps=DEFAULT_MAX_STEPS)


# -- checking --------------------------------------------------------------------------------------
def reference_sequences(model, kind: ModelKind, machine: Machine, words, offset: int):
    """(ids per word, index of the last prompt token per word, verdict token per word)."""
    vocab = model.vocab
    seqs, starts, verdicts = [], [], []
    for word in words:
        prompt = kind.prompt_tokens(machine, word)
        ref = kind.trace(machine, word, offset)
        try:
            seqs.append(vocab.ids(prompt + ref))
        except ValueError as exc:
            raise ValueError(f"reference for input {' '.join(word) or '(empty)'} leaves the model's "
                             f"vocabulary: {exc}") from None
        starts.append(len(prompt) - 1)
        verdicts.append(ref[-1])
    return seqs, starts, verdicts


def check_words(model, kind: ModelKind, machine: Machine, words, offset: int, mode: Mode = FLOAT64):
    """ok per word, first bad position (-1 if none), retrieval problems per word, sequences, starts."""
    seqs, starts, verdicts = reference_sequences(model, kind, machine, words, offset)
    retriever = Retriever(model.vocab) if kind.rag else None
    supplied, problems = [], []
    for seq in seqs:
        if retriever is None:
            supplied.append(np.zeros(len(seq), dtype=bool))
            problems.append([])
        else:
            sup, prob = retrieval_positions(list(seq), retriever)
            supplied.append(sup)
            problems.append(prob)
    lengths = np.array([len(s) for s in seqs])
    ok = np.ones(len(seqs), dtype=bool)
    first_bad = np.full(len(seqs), -1)
    order = np.argsort(lengths, kind="stable")
    i = 0
    while i < len(order):  # batches of similar length, padded with 0
        rows = max(1, min(MAX_ROWS, TOKEN_BUDGET // int(lengths[order[i]])))
        idx = order[i:i + rows]
        while len(idx) > 1 and len(idx) * int(lengths[idx].max()) > 2 * TOKEN_BUDGET:
            idx = idx[:len(idx) // 2]
        width = int(lengths[idx].max())
        ids = np.zeros((len(idx), width), dtype=np.int64)
        sup = np.zeros((len(idx), width), dtype=bool)
        for r, j in enumerate(idx):
            ids[r, :lengths[j]] = seqs[j]
            sup[r, :lengths[j]] = supplied[j]
        check = model_check_mask(lengths[idx], np.array([starts[j] for j in idx]), sup)
        result = teacher_force(model, ids, check, mode)
        ok[idx] = result.ok
        first_bad[idx] = result.first_bad
        i += len(idx)
    for j, prob in enumerate(problems):
        if prob:
            ok[j] = False
    return ok, first_bad, problems, seqs, starts, verdicts


def state_range(model, seqs, mode: Mode = FLOAT64) -> dict:
    """Largest |state value| on the longest sequence of each prompt length, and the R_p precision
    whose integer range holds it: ``p = 2 ceil(log2(max + 1)) + 1`` (R_p has (p-1)/2 integer bits)."""
    rnn = getattr(model, "rnn", model)  # a hybrid's state is its RNN's; the attention keeps a KV cache
    if not hasattr(rnn, "blocks") or not seqs:
        return {}
    rows = sorted({int(r) for b in rnn.blocks for r in b.unit.state_rows()})
    longest: dict[int, np.ndarray] = {}
    for s in seqs:
        key = int(np.sum(s > 0))
        if key not in longest or len(s) > len(longest[key]):
            longest[key] = s
    peak = 0.0
    for s in sorted(longest.values(), key=len)[-8:]:
        x = model.forward(np.asarray(s)[None], mode)
        peak = max(peak, float(np.abs(x[0][:, rows]).max()) if rows else 0.0)
    int_bits = int(np.ceil(np.log2(peak + 1))) if peak > 0 else 0
    p = 2 * int_bits + 1
    lam = len(rows)
    out = {"Lambda": lam, "max_abs_state": peak, "p_state": p, "state_bits": lam * p}
    if hasattr(model, "kv_cache_numbers"):
        out["kv_cache_numbers"] = model.kv_cache_numbers(max(len(s) for s in seqs))
    return out


def _failure(model, kind, machine, word, seq, start, pos, problems, mode):
    vocab = model.vocab
    toks = vocab.tokens(seq)
    f = {"input": list(word), "length": len(word), "reference": toks[start + 1:]}
    if problems:
        f["reason"] = "retriever disagrees with the reference: " + problems[0]
        return f
    f["reason"] = "model"
    f["position"] = int(pos) + 1          # 1-based position of the token being predicted
    f["expected"] = toks[pos + 1]
    logits = model.logits(model.forward(np.asarray(seq)[None], mode), mode)[0, pos]
    f["got"] = vocab.token(int(np.argmax(logits)))
    f["context"] = toks[max(0, pos + 1 - CONTEXT_SHOWN): pos + 1]
    return f


# -- command line ----------------------------------------------------------------------------------
def parse_args(argv):
    p = cli.ArgumentParser(prog="python -m verify.turing", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--machine", required=False, help="library machine name or path to a machine .json file")
    p.add_argument("--max-len", type=int, help="check every input of length 0..L")
    p.add_argument("--trace", metavar="INPUT",
                   help="decode one input (symbols, or space-separated multi-character symbols; '' = empty)")
    cli.add_common_arguments(p, model_kinds=MODEL_KINDS)
    cli.add_arithmetic_arguments(p)
    return p.parse_args(argv)


def _validate(a) -> None:
    if a.machine is None:
        raise cli.UsageError("--machine is required (a library name or a .json file)")
    if a.trace is None and a.max_len is None:
        raise cli.UsageError("--max-len L is required (or --trace INPUT)")
    if a.max_len is not None and not 0 <= a.max_len <= 16:
        raise cli.UsageError(f"--max-len must lie in 0..16, got {a.max_len}")
    if a.min_precision:
        raise cli.UsageError("--min-precision is not supported by verify.turing; use --mode rp --p P")


def load_model(a, kind: ModelKind, machine: Machine, n_max: int, bounds):
    return model_io.load_or_build(a.weights, kind.build(machine, n_max, bounds.offset, bounds.n_vocab))


@cli.main_guard
def main(argv=None) -> int:
    a = parse_args(argv)
    _validate(a)
    started = time.time()
    command = ["python -m verify.turing"] + (sys.argv[1:] if argv is None else list(argv))
    machine = load_machine(a.machine)
    kind = MODEL_KINDS[a.model]
    mode = parse_mode(a.mode, a.p)
    if a.trace is not None:
        word = machine.parse_input(a.trace)
        n_max = max(len(word), a.max_len or 0)
    else:
        n_max = a.max_len
    words = list(words_up_to(machine, n_max))
    bounds = domain_bounds(machine, words, n_max)
    model = load_model(a, kind, machine, n_max, bounds)
    model_info = {"kind": a.model, "theorem": kind.theorem, "size": model.size(),
                  "weights_sha256": model_io.weights_sha256(model), "weights_file": a.weights,
                  "offset": bounds.offset, "number_tokens": model.vocab.n}
    if a.trace is not None:
        return trace_one(model, kind, machine, word, bounds.offset, mode, a, command, started, model_info)

    bar = cli.progress(len(words), f"{machine.name} L<={n_max}", disable=a.no_progress)
    ok_all, first_bad, problems, seqs, starts, verdicts = [], [], [], [], [], []
    for n in range(n_max + 1):  # one batch family per input length
        group = [w for w in words if len(w) == n]
        res = check_words(model, kind, machine, group, bounds.offset, mode)
        for lst, part in zip((ok_all, first_bad, problems, seqs, starts, verdicts), res):
            lst.extend(part)
        bar.update(len(group))
    bar.close()
    bad = [i for i, good in enumerate(ok_all) if not good]
    failures = [_failure(model, kind, machine, words[i], seqs[i], starts[i], first_bad[i], problems[i], mode)
                for i in bad[:MAX_FAILURES_KEPT]]
    accepted = sum(v == YES for v in verdicts)
    memory = state_range(model, seqs, mode)
    seconds = time.time() - started
    domain = {"machine": machine.name, "alphabet": list(machine.alphabet), "max_len": n_max,
              "instances": len(words), "offset": bounds.offset, "longest_run_steps": bounds.max_steps,
              "description": f"every input of length 0..{n_max} over {list(machine.alphabet)}"}
    _print_summary(machine, domain, mode, len(words), bad, failures, accepted, memory, seconds, model, kind.rag)
    cert = cli.certificate(command=command, domain=domain, checked=len(words), failures=failures,
                           verified=not bad, started=started, failure_count=len(bad), accepted=accepted,
                           model=model_info, mode=str(mode), memory=memory,
                           tokens_checked=int(sum(len(s) for s in seqs)))
    cli.write_json(a.json, cert)
    return cli.EXIT_OK if not bad else cli.EXIT_COUNTEREXAMPLE


def trace_one(model, kind, machine, word, offset, mode, a, command, started, model_info) -> int:
    vocab = model.vocab
    prompt = kind.prompt_tokens(machine, word)
    reference = kind.trace(machine, word, offset)
    generated, _ = greedy(model, list(vocab.ids(prompt)), {vocab.id(YES), vocab.id(NO)}, len(reference) + 1,
                          mode, Retriever(vocab) if kind.rag else None)
    gen = vocab.tokens(generated)
    ok = gen == reference
    print(f"machine {machine.name}, input {' '.join(word) or '(empty)'}")
    print(f"prompt:    {' '.join(prompt)}")
    print(f"generated: {' '.join(gen)}")
    print(f"reference: {' '.join(reference)}")
    if ok:
        print(f"match: {len(reference)} tokens, verdict {reference[-1]}")
    else:
        k = next((i for i, (g, r) in enumerate(zip(gen, reference)) if g != r), min(len(gen), len(reference)))
        print(f"MISMATCH at token {k + 1} after the prompt: generated "
              f"{gen[k] if k < len(gen) else '(end)'}, reference {reference[k] if k < len(reference) else '(end)'}")
    cert = cli.certificate(command=command, domain={"machine": machine.name, "input": list(word)}, checked=1,
                           failures=[] if ok else [{"input": list(word), "generated": gen}], verified=ok,
                           started=started, model=model_info, mode=str(mode),
                           trace={"generated": gen, "reference": reference})
    cli.write_json(a.json, cert)
    return cli.EXIT_OK if ok else cli.EXIT_COUNTEREXAMPLE


def _print_summary(machine, domain, mode, checked, bad, failures, accepted, memory, seconds, model, rag=True):
    mem = (f"state Lambda = {memory['Lambda']} numbers, max |state| = {memory['max_abs_state']:g}, "
           f"p_state = {memory['p_state']} bits, Lambda*p = {memory['state_bits']} bits") if memory else ""
    if memory and "kv_cache_numbers" in memory:
        mem += f"; attention KV cache {memory['kv_cache_numbers']:,} numbers at the longest sequence"
    retrieval = "every retrieval is reproduced by the regex retriever; " if rag else ""
    if not bad:
        print(f"verified: {checked:,} inputs ({domain['description']}) of machine {machine.name}")
        print(f"  every model token is the unique arg-max and equals the reference sequence; "
              f"{retrieval}verdicts = interpreter "
              f"({accepted:,} accepted, {checked - accepted:,} rejected); mode {mode}; {seconds:.1f} s")
    else:
        print(f"FAILED: {len(bad):,} of {checked:,} inputs of machine {machine.name} disagree")
        f = failures[0]
        print(f"  smallest counterexample: input {' '.join(f['input']) or '(empty)'} (length {f['length']})")
        print(f"  reason: {f['reason']}")
        if f["reason"] == "model":
            print(f"  at sequence position {f['position'] + 1}: expected {f['expected']}, model chose {f['got']}")
            print(f"  reference up to there: ... {' '.join(f['context'])}")
        print(f"  reference sequence: {' '.join(f['reference'])}")
    if mem:
        print(f"  {mem} (measured on the longest sequences; size {model.size()})")


if __name__ == "__main__":
    sys.exit(main())
