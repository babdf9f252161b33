"""The chain of Thms 4.1 and 4.8: Turing machine -> Linear RNN with CoT -> circuit -> Transformer.

:func:`build_turing_transformer` builds, for every input of length <= L of a machine (prompts of
n = 2^L tokens, theory.tasks.logspace), the Thm 4.1 Linear RNN, compiles it to a circuit RNN
(constructions.rnn.compile) and builds the Thm 4.8 Transformer for that circuit, sized for the
longest gate-level trace of the domain. :func:`turing_trace` is the Transformer's reference CoT:
the circuit interpreter's gate trace (theory.circuit), whose RNN-level tokens are the machine's
step tokens and whose answer is the machine's verdict (both from theory.turing.run; the tests
check the three agree).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from constructions.rnn.compile import compile_rnn
from constructions.rnn.logspace_turing import build_logspace_rnn
from constructions.runtime.rnn import LinearRNN
from constructions.runtime.transformer import Transformer
from constructions.transformer.rnn_sim import build_rnn_transformer
from theory import circuit as tc
from theory.tasks import logspace
from theory.turing import Machine


@dataclass
class TuringChain:
    machine: Machine
    max_len: int
    n: int
    rnn: LinearRNN
    circuit: tc.Circuit
    transformer: Transformer

    def prompt(self, word) -> list[str]:
        return logspace.prompt(self.machine, word, self.n)

    def trace(self, word) -> list[str]:
        return tc.gate_trace(self.circuit, self.prompt(word))


def longest_sequence(circuit: tc.Circuit, machine: Machine, max_len: int) -> int:
    """Prompt + gate trace of the longest run of the domain: n + (n + T) (C + 1)."""
    n = logspace.n_for(max_len)
    steps = logspace.longest_run(machine, logspace.words_up_to(machine, max_len))
    return n + tc.trace_length(circuit, n, steps + 1)


def build_turing_transformer(machine: Machine, max_len: int, *, n_vocab: int = 1) -> TuringChain:
    """The chain for every input of length <= ``max_len`` (``n_vocab``: number tokens of the vocabulary,
    so that the models read the ids of a task with cell-number tokens; the weights do not use them)."""
    rnn = build_logspace_rnn(machine, max_len, n_vocab=n_vocab)
    circuit = compile_rnn(rnn, name=f"logspace:{machine.name}")
    model = build_rnn_transformer(circuit, longest_sequence(circuit, machine, max_len))
    model.meta.update(task="turing", machine=machine.name, theorem="Thm 4.1 + Thm 4.8 (TM -> RNN -> circuit)")
    return TuringChain(machine, max_len, logspace.n_for(max_len), rnn, circuit, model)


@lru_cache(maxsize=16)
def chain_for(machine: Machine, max_len: int, n_vocab: int = 1) -> TuringChain:
    """The chain for a domain, built once (the compiled circuit fixes the reference traces)."""
    return build_turing_transformer(machine, max_len, n_vocab=n_vocab)


def build_transformer_turing(machine: Machine, n_max: int, *, offset: int = 0, n_vocab: int = 1) -> Transformer:
    """``verify.turing``'s builder interface: the chain's Transformer for inputs up to ``n_max``."""
    del offset  # no cell numbers in this CoT; the vocabulary is the circuit's plus gate bits
    return chain_for(machine, n_max, n_vocab).transformer


def transformer_reference(machine: Machine, word, *, max_len: int, n_vocab: int = 1) -> list[str]:
    """The Transformer's reference CoT for ``word`` in the domain "inputs up to ``max_len``"."""
    return chain_for(machine, max_len, n_vocab).trace(word)
