"""Check a Turing-machine simulator on every input up to a length:
``python -m verify.turing --machine palindrome --max-len 8 --model rag``.

For each input over the machine's alphabet (lengths 0..L, shortest first, then in the order of the
alphabet) the construction's reference sequence, written from the interpreter theory.turing.run
(Thm 5.4: copy the input into records with regex searches, then one retrieval per step; Thm 5.8:
one record per step, read back by attention), is appended to the prompt ``<s> sym:x_1 .. sym:x_n``
and the model runs once over it (teacher forcing, verify/core.py). The input passes iff every token
the model must produce is its unique arg-max, the final YES/NO is the interpreter's verdict, and
for RAG every retrieval is what the real regex retriever returns.

Without retrieval: --model rnn-cot is Thm 4.1's Linear RNN with CoT, on its own input format
``0^{n-|x|} sym:x`` with n = 2^L (one step token per machine step, then YES/NO); --model transformer
is the chain TM -> Thm 4.1 RNN -> circuit -> Thm 4.8 Transformer, whose CoT is the circuit's
gate-level trace, n + (n + T)(C + 1) tokens in all: sequences over 8,000 tokens are refused (dense
attention), so L <= 4 for small machines (palindrome 6,898 tokens at L = 4; binary_add only L <= 2).

--machine takes a library name (theory/machines) or a JSON file in the format of docs/turing.md.
--trace INPUT decodes one input greedily (with the retriever) and prints generated vs reference.
Exit codes: 0 verified, 1 counterexample (the smallest input is printed), 2 bad usage, a bad
machine file, an input outside the alphabet, or a machine that does not halt within --max-steps.
"""

from __future__ import annotations

import argparse
import sys
import time

from constructions import registry
from constructions.runtime import io as model_io
from constructions.runtime.arithmetic import parse_mode
from theory.tasks.turing import MAX_LEN, TuringTask
from theory.turing import DEFAULT_MAX_STEPS, StepLimitExceeded, load_machine
from verify import cli, core

MAX_STEPS_LIMIT = 1_000_000
MAX_SEQUENCE = 8_000    # --model transformer: tokens of the chain's longest sequence (dense L x L attention)
MAX_TRACE = 1_000       # --model transformer --trace: greedy decoding re-runs the whole prefix per token


def parse_args(argv):
    p = cli.ArgumentParser(prog="python -m verify.turing", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--machine", help="library machine name or path to a machine .json file")
    p.add_argument("--max-len", type=int, help=f"check every input of length 0..L (L <= {MAX_LEN})")
    p.add_argument("--trace", metavar="INPUT",
                   help="decode one input (symbols, or space-separated multi-character symbols; '' = empty)")
    p.add_argument("--max-steps", type=int, default=DEFAULT_MAX_STEPS,
                   help=f"a run that has not halted after this many steps is an error (default {DEFAULT_MAX_STEPS:,})")
    cli.add_common_arguments(p, model_kinds=registry.families("turing"))
    cli.add_arithmetic_arguments(p)
    cli.add_run_arguments(p, shards=False)
    return p.parse_args(argv)


def _validate(a) -> None:
    if a.machine is None:
        raise cli.UsageError("--machine is required (a library name or a .json file)")
    if a.trace is None and a.max_len is None:
        raise cli.UsageError("--max-len L is required (or --trace INPUT)")
    cli.check_range("--max-len", a.max_len, 0, MAX_LEN)
    cli.check_range("--max-steps", a.max_steps, 1, MAX_STEPS_LIMIT)
    cli.validate_arithmetic(a)
    cli.check_output_path(a.json)
    if a.trace is not None and a.min_precision:
        raise cli.UsageError("--trace decodes one input; drop --min-precision")


@cli.main_guard
def main(argv=None) -> int:
    a = parse_args(argv)
    _validate(a)
    started, command = cli.start_run("verify.turing", argv, a.json)
    machine = load_machine(a.machine)
    word = machine.parse_input(a.trace) if a.trace is not None else None
    max_len = max(len(word), a.max_len or 0) if word is not None else a.max_len
    cli.check_range("the input length", max_len, 0, MAX_LEN)
    task = TuringTask(machine, max_len, max_steps=a.max_steps)
    construction = registry.get("turing", a.model)
    try:
        bounds = task.bounds
        model = model_io.load_or_build(a.weights, construction.build(task))
    except StepLimitExceeded as exc:
        raise cli.UsageError(f"{exc} (--max-steps {a.max_steps:,})") from None
    if a.model == "transformer":
        _check_chain_length(model.meta["max_len"], word is not None)
    info = {**core.model_info(construction, model, a.weights), "offset": bounds.offset,
            "number_tokens": model.vocab.n, "machine_sha256": machine.sha256()}
    mode = parse_mode(a.mode, a.p)

    if word is not None:
        report = core.decode_one(construction, task, model, word, mode)
        _print_one(machine, report)
        cert = cli.certificate(command=command, domain={"machine": machine.name, "input": list(word),
                                                        "instances": 1},
                               checked=1, failures=[] if report["match"] else [report], verified=report["match"],
                               started=started, model=info, mode=str(mode), arithmetic=core.arithmetic(mode),
                               trace=report)
        cli.write_json(a.json, cert)
        return cli.EXIT_OK if report["match"] else cli.EXIT_COUNTEREXAMPLE

    domain = task.domain()
    if a.min_precision:
        return min_precision(construction, task, model, domain, a, command, started, info)
    res = core.run(construction, task, model, domain, mode, workers=a.workers, scheduler=a.scheduler,
                   progress=not a.no_progress,
                   desc=f"{machine.name} L<={max_len}")
    memory = core.state_memory(construction, task, model, domain, res, mode)
    _print_summary(machine, domain.describe(), mode, res, memory, time.time() - started, model,
                   construction.retrieval)
    cert = cli.certificate(command=command, domain=domain.describe(), checked=res.checked, failures=res.failures,
                           verified=res.failed == 0, started=started, **core.result_fields(res),
                           accepted=res.answers.get("YES", 0), model=info, mode=str(mode),
                           arithmetic=core.arithmetic(mode), memory=memory)
    cli.write_json(a.json, cert)
    return cli.EXIT_OK if res.failed == 0 else cli.EXIT_COUNTEREXAMPLE


def _check_chain_length(longest: int, trace: bool) -> None:
    """The Thm 4.8 chain's sequences have n + (n + T)(C + 1) tokens with n = 2^L: refuse, before any
    checking, lengths that dense attention cannot handle in reasonable time and memory."""
    limit, what = (MAX_TRACE, "--trace decodes greedily, one forward pass per token") if trace else \
        (MAX_SEQUENCE, "dense attention: L^2 scores per head")
    if longest > limit:
        raise cli.UsageError(f"the chain's longest sequence has {longest:,} tokens (n + (n + T)(C + 1), n = 2^L), "
                             f"more than {limit:,} ({what}); {'use a shorter input' if trace else 'lower --max-len'}")


def min_precision(construction, task, model, domain, a, command, started, info) -> int:
    found = core.search_precision(construction, task, model, domain, workers=a.workers,
                                  scheduler=a.scheduler)
    p, numbers = found.p, model.shape()["state_dim"]
    memory, notes = {}, []
    if p is not None:
        memory = {"Lambda": numbers, "p": p, "p_source": "measured (--min-precision, exhaustive)",
                  "state_bits": numbers * p}
        if numbers:
            notes = [f"memory in the paper's units: Lambda = {numbers} numbers x p = {p} (measured) = "
                     f"{numbers * p:,} bits of RNN state"]
    what = f"{domain.size:,} inputs of length 0..{task.max_len} of machine {task.machine.name}"
    return core.precision_verdict(found, what, command=command, domain=domain, started=started, model=info,
                                  json_path=a.json, notes=notes, memory=memory)


def _print_one(machine, report) -> None:
    cli.say(f"machine {machine.name}, input {' '.join(report['input']) or '(empty)'}")
    cli.say(f"prompt:    {' '.join(report['prompt'])}")
    cli.say(f"generated: {' '.join(report['generated'])}")
    cli.say(f"reference: {' '.join(report['reference'])}")
    if report["match"]:
        cli.say(f"match: {len(report['reference'])} tokens, verdict {report['reference'][-1]}")
    else:
        cli.say(f"MISMATCH at position {report['position']}: generated {report['got']}, "
                f"reference {report['expected']}")
        for line in report.get("trace", []):
            cli.say(line)


def _print_summary(machine, domain, mode, res, memory, seconds, model, rag) -> None:
    mem = (f"state Lambda = {memory['Lambda']} numbers, max |state| = {memory['max_abs_state']:g}, "
           f"whose values need p_state = {memory['p_state']} bits (a lower bound on the model's precision; "
           f"--min-precision measures it and gives Lambda * p in the paper's units)") if memory else ""
    if memory and "kv_cache_numbers" in memory:
        mem += f"; attention KV cache {memory['kv_cache_numbers']:,} numbers at the longest sequence"
    retrieval = "every retrieval is reproduced by the regex retriever; " if rag else ""
    text = domain["parts"][0]["description"]
    if res.failed == 0:
        accepted = res.answers.get("YES", 0)
        cli.say(f"verified: {res.checked:,} inputs ({text}) of machine {machine.name}")
        cli.say(f"  every model token is the unique arg-max and equals the reference sequence; "
                f"{retrieval}verdicts = interpreter ({accepted:,} accepted, {res.checked - accepted:,} rejected); "
                f"mode {mode}; {seconds:.1f} s")
    else:
        cli.say(f"FAILED: {res.failed:,} of {res.checked:,} inputs of machine {machine.name} disagree")
        f = res.failures[0]
        cli.say(f"  smallest counterexample: input {' '.join(f['input']) or '(empty)'} (length {f['length']})")
        cli.say(f"  {core.describe_failure(f)}")
        if f["reason"] == "model":
            cli.say(f"  reference up to there: ... {' '.join(f['context'])}")
        cli.say(f"  reference sequence: {' '.join(f['reference'])}")
    if mem:
        cli.say(f"  {mem} (measured on the longest sequences; shape {model.shape()['depth']} blocks, "
                f"width {model.shape()['width']})")


if __name__ == "__main__":
    sys.exit(main())
