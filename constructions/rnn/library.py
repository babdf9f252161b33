"""The toolkit's library of Linear RNNs for Thm 4.8, each with its task: inputs, prompt, reference.

A checker (``verify.rnn``) needs, for an RNN name and a length L: the Linear RNN built for inputs
up to length L, the inputs, their prompts and the reference chain of thought written from an
independent interpreter (plain Python or theory.turing.run, never the weights). Compile the RNN
with :func:`constructions.rnn.compile.compile_rnn` (or :func:`circuit`) to get the circuit the
Thm 4.8 Transformer simulates.

Names: ``parity``, ``mod3`` (theory.tasks.modcount), and ``logspace:<machine>`` for the Thm 4.1
RNN of any library machine or machine file (theory.tasks.logspace; prompts of n = 2^L tokens).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from constructions.rnn.compile import compile_rnn
from constructions.rnn.logspace_turing import build_logspace_rnn
from constructions.rnn.small import build_mod_rnn, build_parity_rnn
from constructions.runtime.rnn import LinearRNN
from theory.circuit import Circuit
from theory.tasks import logspace, modcount
from theory.turing import load_machine


@dataclass(frozen=True)
class LibraryRNN:
    name: str
    theorem: str
    build: Callable[[int], LinearRNN]                    # max_len -> the RNN
    words: Callable[[int], Iterable[tuple[str, ...]]]    # max_len -> every input, shortest first
    prompt: Callable[[tuple[str, ...], int], list[str]]  # (input, max_len) -> prompt tokens
    reference: Callable[[tuple[str, ...]], list[str]]    # input -> the RNN's CoT, answer last


def _modcount(name: str, build, trace) -> LibraryRNN:
    return LibraryRNN(name, "small test RNN (count of 1s)", build, modcount.words_up_to,
                      lambda w, L: modcount.prompt(w), trace)


def _logspace(machine_name: str) -> LibraryRNN:
    machine = load_machine(machine_name)
    return LibraryRNN(f"logspace:{machine_name}", "Thm 4.1 (Linear RNN with CoT, log-space TM)",
                      lambda L: build_logspace_rnn(machine, L),
                      lambda L: logspace.words_up_to(machine, L),
                      lambda w, L: logspace.prompt(machine, w, logspace.n_for(L)),
                      lambda w: logspace.trace(machine, w))


def get(name: str) -> LibraryRNN:
    """A library RNN by name (module docstring); ValueError for an unknown name."""
    if name == "parity":
        return _modcount("parity", build_parity_rnn, modcount.parity_trace)
    if name == "mod3":
        return _modcount("mod3", lambda L: build_mod_rnn(3, L), lambda w: modcount.mod_trace(w, 3))
    if name.startswith("logspace:"):
        return _logspace(name.split(":", 1)[1])
    raise ValueError(f"unknown RNN {name!r}; library: parity, mod3, logspace:<machine name or file>")


NAMES = ("parity", "mod3")


def circuit(name: str, max_len: int) -> Circuit:
    """The library RNN ``name`` built for inputs up to ``max_len``, compiled to a circuit."""
    return compile_rnn(get(name).build(max_len), name=name)
