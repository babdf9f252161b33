"""Check Thm 4.8's Transformer on a circuit RNN, every input up to a length:
``python -m verify.rnn --rnn parity --max-len 8``.

The RNN is a library RNN (``parity``, ``mod3``, or ``logspace:<machine>``, the Thm 4.1 RNN of a
library machine or machine file) built for inputs up to L and compiled to a circuit, or a circuit
file in the format of docs/rnn.md. For every input the reference sequence is the prompt, then the
gate-level trace of the circuit interpreter (theory.circuit.gate_trace: per RNN step its C gate bits
and one RNN token), and the Transformer built for the circuit (Thm 4.8, App. C.7) runs once over it
(teacher forcing, verify/core.py). An input passes iff every token of the trace is the Transformer's
unique arg-max and the trace's final answer, the interpreter's, is the reference answer.

Inputs and answers:
  library RNN   every input of length 0..L (bit strings; a machine's alphabet for logspace:, padded to
                n = 2^L tokens); the answer comes from plain Python or the Turing-machine interpreter,
                independent of the circuit. --circuit FILE.json checks a circuit file (an edited or
                hand-written one, e.g. written with --save-circuit) as that RNN, against the same answers.
  circuit file  a file defines no input domain and no answer: every prompt of 1..L tokens over its
                prompt tokens (--tokens, else the file's input_tokens, else its whole vocabulary but
                YES/NO), answered by the interpreter. This checks that the Transformer simulates the
                circuit; that the circuit computes the right function needs a reference (--circuit).

--model rnn-cot checks the library's Linear RNN itself on the same inputs (its own CoT).
--weights FILE.npz checks saved (e.g. edited) Transformer weights instead of the built ones.
Exit codes: 0 verified, 1 counterexample (the smallest input is printed, with the RNN step and gate
where the trace breaks), 2 bad usage or input (one line, before any checking).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time

from constructions import registry
from constructions.runtime import io as model_io
from constructions.runtime.arithmetic import parse_mode
from constructions.transformer import rnn_task
from theory import circuit as tc
from theory.tasks.circuit_rnn import LIBRARY, MAX_LEN, CircuitRNNTask, is_library
from theory.tokens import NO, YES
from verify import cli, core

MAX_LEN_BITS = 12       # parity, mod3: 2^13 - 1 inputs
MAX_LEN_LOGSPACE = 4    # Thm 4.1 RNNs: prompts of n = 2^L tokens, sequences of (n + T)(C + 1)
MAX_INSTANCES = 200_000  # circuit files: |tokens|^L prompts
MAX_SEQUENCE = 8_000    # tokens of one sequence: dense attention is L x L per head


def parse_args(argv):
    p = cli.ArgumentParser(prog="python -m verify.rnn", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rnn", metavar="NAME|FILE.json",
                   help=f"library RNN ({', '.join(LIBRARY)}, logspace:<machine>) or a circuit file")
    p.add_argument("--max-len", type=int, metavar="L",
                   help=f"inputs of length 0..L (parity, mod3: L <= {MAX_LEN_BITS}; logspace: L <= "
                        f"{MAX_LEN_LOGSPACE}); prompts of 1..L tokens for a circuit file")
    p.add_argument("--circuit", metavar="FILE.json",
                   help="check this circuit file as the library RNN --rnn NAME (same inputs and answers)")
    p.add_argument("--tokens", metavar="A,B,..",
                   help="a circuit file's prompt tokens (default: its input_tokens)")
    p.add_argument("--save-circuit", metavar="FILE.json", help="write the circuit being checked to FILE.json")
    cli.add_common_arguments(p, model_kinds=["transformer", "rnn-cot"])
    cli.add_arithmetic_arguments(p)
    return p.parse_args(argv)


def _validate(a) -> None:
    if a.rnn is None:
        raise cli.UsageError("--rnn is required (a library name or a circuit .json file)")
    if a.max_len is None:
        raise cli.UsageError("--max-len L is required")
    library = is_library(a.rnn)
    if library:
        high = MAX_LEN_LOGSPACE if a.rnn.startswith("logspace:") else MAX_LEN_BITS
        cli.check_range("--max-len", a.max_len, 0, high)
        if a.tokens is not None:
            raise cli.UsageError(f"--tokens is for circuit files; {a.rnn} has its own inputs")
    else:
        if not a.rnn.endswith(".json"):
            raise cli.UsageError(f"unknown RNN {a.rnn!r}; library: {', '.join(LIBRARY)}, logspace:<machine>, "
                                 "or a circuit file NAME.json")
        cli.check_range("--max-len", a.max_len, 1, MAX_LEN)
        if a.circuit is not None:
            raise cli.UsageError("--circuit replaces a library RNN's circuit; a circuit file is checked as --rnn FILE")
        if a.model == "rnn-cot":
            raise cli.UsageError("a circuit file has no Linear RNN: check its Transformer (--model transformer)")
    if a.model == "rnn-cot" and a.circuit is not None:
        raise cli.UsageError("--circuit is checked through its Transformer (--model transformer)")
    cli.validate_arithmetic(a)
    cli.check_output_path(a.json)
    cli.check_output_path(a.save_circuit, "--save-circuit")


def make_task(a) -> CircuitRNNTask:
    tokens = None if a.tokens is None else [t.strip() for t in a.tokens.split(",") if t.strip()]
    task = CircuitRNNTask(a.rnn, a.max_len, circuit=a.circuit, tokens=tokens)
    if not task.library and task.domain_size() > MAX_INSTANCES:
        raise cli.UsageError(f"{task.domain_size():,} prompts of 1..{a.max_len} tokens over {len(task.tokens)} "
                             f"tokens is more than {MAX_INSTANCES:,}: lower --max-len or pass fewer --tokens")
    return task


def circuit_sha256(circuit: tc.Circuit) -> str:
    return hashlib.sha256(json.dumps(circuit.to_dict(), sort_keys=True).encode()).hexdigest()


def circuit_info(circuit: tc.Circuit) -> dict:
    return {"name": circuit.name, "gates": circuit.size, "counts": circuit.counts(), "p": circuit.p,
            "state_numbers": circuit.state_dim, "sha256": circuit_sha256(circuit)}


@cli.main_guard
def main(argv=None) -> int:
    a = parse_args(argv)
    _validate(a)
    started, command = cli.start_run("verify.rnn", argv, a.json)
    task = make_task(a)
    construction = registry.get("rnn", a.model)
    circuit = rnn_task.circuit_of(task) if a.model == "transformer" or a.save_circuit else None
    if a.save_circuit:
        tc.save_circuit(circuit, a.save_circuit)
    if a.model == "transformer" and task.library:
        wrong = rnn_output_failures(task)
        if wrong:  # the circuit is not the RNN: no Transformer check can repair that
            _print_circuit_failures(task, wrong)
            cert = cli.certificate(command=command, domain=task.domain().describe(), checked=len(task.words),
                                   failures=wrong, verified=False, started=started, failure_count=len(wrong),
                                   circuit=circuit_info(circuit), mode=a.mode)
            cli.write_json(a.json, cert)
            return cli.EXIT_COUNTEREXAMPLE
    if a.model == "transformer":
        longest = rnn_task.longest_sequence(task)
        if longest > MAX_SEQUENCE:
            raise cli.UsageError(f"the longest sequence (prompt + gate trace) has {longest:,} tokens, more than "
                                 f"{MAX_SEQUENCE:,} (dense attention: L^2 scores per head); lower --max-len")
    model = model_io.load_or_build(a.weights, construction.build(task))
    info = core.model_info(construction, model, a.weights)
    if circuit is not None:
        info["circuit"] = circuit_info(circuit)
    mode = parse_mode(a.mode, a.p)
    domain = task.domain()
    if a.min_precision:
        return min_precision(construction, task, model, domain, command, started, info, a.json)
    res = core.run(construction, task, model, domain, mode, progress=not a.no_progress,
                   desc=f"{a.rnn} L<={a.max_len}")
    seconds = time.time() - started
    _print_summary(task, circuit, model, mode, res, seconds, a.model)
    cert = cli.certificate(command=command, domain=domain.describe(), checked=res.checked, failures=res.failures,
                           verified=res.failed == 0, started=started, **core.result_fields(res), model=info,
                           mode=str(mode), arithmetic=core.arithmetic(mode))
    cli.write_json(a.json, cert)
    return cli.EXIT_OK if res.failed == 0 else cli.EXIT_COUNTEREXAMPLE


def rnn_output_failures(task: CircuitRNNTask, keep: int = core.MAX_FAILURES_KEPT) -> list[dict]:
    """A library RNN's circuit must write the library's reference CoT, token for token (mod3's residue
    token, Thm 4.1's step tokens, the answer): the interpreter runs every input, at most as many
    tokens as the reference has. The first ``keep`` inputs where it does not, in domain order
    (shortest first), as failure records (``reason`` "circuit")."""
    circuit = rnn_task.circuit_of(task)
    interpreter = tc.Interpreter(circuit)
    out = []
    for key, word in enumerate(task.words):
        prompt, want = task.prompt(word), task.rnn_trace(word)
        r = tc.run(circuit, prompt, max_new=len(want), interpreter=interpreter)
        written = circuit.vocab.tokens(r.generated)
        if written == want:
            continue
        k = next((i for i, (x, y) in enumerate(zip(written, want)) if x != y), min(len(written), len(want)))
        got = written[k] if k < len(written) else "(nothing)"
        if k == len(want) - 1 and got in (YES, NO):
            detail = f"the circuit answers {got}, the reference ({task.rnn}) answers {want[k]}"
        else:
            detail = (f"after RNN step {len(prompt) + k} the circuit writes {got}, the reference CoT of "
                      f"{task.rnn} has {want[k]}")
        out.append({"instance": key, **task.describe_instance(word), "reason": "circuit", "position": None,
                    "rnn_step": len(prompt) + k, "circuit_writes": written, "reference": want, "detail": detail})
        if len(out) >= keep:
            break
    return out


def _print_circuit_failures(task, wrong) -> None:
    f = wrong[0]
    more = "+" if len(wrong) >= core.MAX_FAILURES_KEPT else ""
    cli.say(f"FAILED: the circuit is not {task.rnn}: its output differs from the reference on {len(wrong)}{more} "
            f"inputs ({task.describe_domain()}); the Transformer was not checked")
    cli.say(f"  smallest counterexample: input {' '.join(f['input']) or '(empty)'} (length {f['length']}): "
            f"{f['detail']}")
    cli.say(f"  circuit writes: {' '.join(f['circuit_writes']) or '(nothing)'}; reference: {' '.join(f['reference'])}")


def min_precision(construction, task, model, domain, command, started, info, json_path) -> int:
    found = core.search_precision(construction, task, model, domain)
    return core.precision_verdict(found, f"{domain.size:,} inputs of {task.rnn} ({task.describe_domain()})",
                                  command=command, domain=domain, started=started, model=info, json_path=json_path)


def where_in_trace(position: int, prompt_length: int, gates: int) -> str:
    """Which RNN step and gate a 1-based position of the sequence holds (theory.circuit.gate_trace)."""
    k = position - prompt_length          # 1-based index in the trace
    if k < 1:
        return "in the prompt"
    step, b = divmod(k - 1, gates + 1)
    if b < gates:
        return f"gate {b + 1} of {gates} of RNN step {step + 1}"
    return f"the RNN's token after step {step + 1}"


def _print_summary(task, circuit, model, mode, res, seconds, kind) -> None:
    what = f"RNN {task.rnn}" + (f" (circuit {task.circuit_file})" if task.circuit_file else "")
    text = task.describe_domain()
    if res.failed == 0:
        answers = ", ".join(f"{k} {v:,}" for k, v in sorted(res.answers.items()))
        cli.say(f"verified: {res.checked:,} inputs ({text}) of {what}")
        if kind == "transformer":
            cli.say(f"  every token of the gate-level trace is the Transformer's unique arg-max; final answers = the "
                    f"interpreter's = the reference ({answers}); mode {mode}; {seconds:.1f} s")
        else:
            cli.say(f"  every CoT token and answer is the RNN's unique arg-max and equals the reference ({answers}); "
                    f"mode {mode}; {seconds:.1f} s")
    else:
        cli.say(f"FAILED: {res.failed:,} of {res.checked:,} inputs ({text}) of {what} disagree")
        f = res.failures[0]
        cli.say(f"  smallest counterexample: input {' '.join(f['input']) or '(empty)'} (length {f['length']})")
        if f["reason"] == "reference":
            cli.say(f"  the circuit answers {f['reference'][-1]}, the reference ({task.rnn}) answers "
                    f"{task.solve(tuple(f['input']))}")
        else:
            where = ""
            if kind == "transformer":
                prompt = len(task.prompt(tuple(f["input"]) if task.library else f["input"]))
                where = f" ({where_in_trace(f['position'], prompt, circuit.size)})"
            cli.say(f"  {core.describe_failure(f)}{where}")
            cli.say(f"  reference up to there: ... {' '.join(f['context'])}")
    s = model.shape()
    cot = f"CoT max {res.cot_max + 1:,} tokens (answer included), longest sequence {res.longest:,}"
    if kind == "transformer":
        cli.say(f"  circuit C = {circuit.size} gates, state {circuit.state_dim} x {circuit.p} bits; Transformer "
                f"depth {s['depth']}, {s['heads_total']} heads, width {s['width']}, {s['nonzero_parameters']:,} "
                f"nonzero parameters ({s['nonzero_parameters'] / circuit.size:.1f} per gate); {cot}")
    else:
        cli.say(f"  Linear RNN depth {s['depth']}, state {s['state_dim']} numbers, width {s['width']}; {cot}")


if __name__ == "__main__":
    sys.exit(main())
