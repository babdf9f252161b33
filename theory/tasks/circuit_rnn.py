"""An RNN run on every input up to a length, as a task: what Thm 4.8's checker (``verify.rnn``) checks.

An instance is one input; its answer is the RNN's final token (YES/NO). Two kinds of RNN:

* **A library RNN by name** (its Linear RNN and compiled circuit are built in ``constructions.rnn``):

  - ``parity``, ``mod3``: bit strings of length 0..L, prompt ``<s> sym:b_1 .. sym:b_l``
    (theory.tasks.modcount);
  - ``logspace:<machine>`` (a library machine or a machine file): the Thm 4.1 RNN, inputs of length
    0..L over the machine's alphabet, prompt ``0^{n-|x|} sym:x`` with n = 2^L (theory.tasks.logspace).

  The answer is the independent reference (plain Python, or the Turing-machine interpreter), never a
  circuit. ``circuit=`` may give a circuit file that claims to implement the same RNN (an edited or a
  hand-compiled one): the checker then checks that circuit against the same answers.

* **A circuit file alone** (``rnn="path.json"``, theory.circuit's format). A file defines no input
  domain and no answer of its own, so: the instances are the prompts themselves, **every token
  sequence of length 1..L over the prompt tokens** (``tokens=``, else the file's ``input_tokens``,
  else every token of its vocabulary but YES and NO), shortest first, then by token id; the answer
  is the circuit interpreter's (theory.circuit.answer). A prompt on which the circuit does not answer
  within ``max_steps`` generated tokens is an error. Here the checker can catch a Transformer that
  does not simulate the circuit, not a circuit that computes the wrong function: that needs a
  reference outside the file (the first kind, with ``circuit=``).
"""

from __future__ import annotations

import itertools
from functools import cached_property
from pathlib import Path

import numpy as np

from theory import circuit as tc
from theory.tasks import logspace, modcount
from theory.tasks.base import Domain, ListPart, Task
from theory.tokens import NO, YES, Vocab
from theory.turing import DEFAULT_MAX_STEPS, load_machine, run

LIBRARY = ("parity", "mod3")      # and logspace:<machine>
MAX_LEN = 16
CHUNK = 256
MAX_NEW = 100_000                 # generated tokens after which a circuit file's run is an error


def is_library(rnn: str) -> bool:
    return rnn in LIBRARY or rnn.startswith("logspace:")


class CircuitRNNTask(Task):
    """An RNN (library name or circuit file) on every input up to length ``max_len`` (module docstring)."""

    name = "rnn"
    chunk_size = CHUNK

    def __init__(self, rnn: str, max_len: int, *, circuit: tc.Circuit | str | Path | None = None,
                 tokens=None, max_steps: int = DEFAULT_MAX_STEPS):
        if isinstance(max_len, bool) or not isinstance(max_len, int) or not 0 <= max_len <= MAX_LEN:
            raise ValueError(f"the input length bound must be an integer in 0..{MAX_LEN}, got {max_len!r}")
        self.rnn = str(rnn)
        self.max_len = max_len
        self.max_steps = max_steps
        self.library = is_library(self.rnn)
        self.machine = load_machine(self.rnn.split(":", 1)[1]) if self.rnn.startswith("logspace:") else None
        if not self.library and not self.rnn.endswith(".json"):
            raise ValueError(f"unknown RNN {self.rnn!r}; library: {', '.join(LIBRARY)}, logspace:<machine>, "
                             "or a circuit file NAME.json")
        self.circuit_file = str(circuit) if isinstance(circuit, (str, Path)) else None
        if isinstance(circuit, (str, Path)):
            circuit = tc.load_circuit(circuit)
        if not self.library:
            if circuit is not None:
                raise ValueError("a circuit file is its own RNN: give it as the RNN, without a second circuit")
            circuit = tc.load_circuit(self.rnn)
            if max_len < 1:
                raise ValueError("a circuit file's prompts have 1..L tokens: L must be at least 1")
        elif tokens is not None:
            raise ValueError(f"the library RNN {self.rnn!r} has its own inputs; prompt tokens are for circuit files")
        self.circuit = circuit              # a library RNN's compiled circuit is attached by constructions
        self.tokens = self._prompt_tokens(tokens) if not self.library else None

    # -- the file domain ---------------------------------------------------------------------------
    def _prompt_tokens(self, tokens) -> tuple[str, ...]:
        vocab = self.circuit.vocab
        if tokens is None:
            tokens = self.circuit.input_tokens
        if tokens is None:
            tokens = [vocab.token(i) for i in range(1, vocab.size + 1) if vocab.token(i) not in (YES, NO)]
        tokens = tuple(str(t) for t in tokens)
        for t in tokens:
            vocab.id(t)                     # ValueError: unknown token
        if YES in tokens or NO in tokens:
            raise ValueError("prompt tokens may not include the answers YES and NO (decoding stops at them)")
        if not tokens or len(set(tokens)) != len(tokens):
            raise ValueError(f"prompt tokens must be distinct and at least one, got {list(tokens)}")
        return tuple(sorted(tokens, key=vocab.id))

    @property
    def n(self) -> int:
        return self.max_len

    @property
    def alphabet(self) -> tuple[str, ...]:
        """The symbols an instance is made of (tokens, for a circuit file)."""
        if self.machine is not None:
            return tuple(self.machine.alphabet)
        return modcount.ALPHABET if self.library else self.tokens

    def domain_size(self) -> int:
        k = len(self.alphabet)
        first = 0 if self.library else 1
        return sum(k**i for i in range(first, self.max_len + 1))

    @cached_property
    def words(self) -> list[tuple[str, ...]]:
        first = 0 if self.library else 1
        return [w for n in range(first, self.max_len + 1) for w in itertools.product(self.alphabet, repeat=n)]

    # -- Task -------------------------------------------------------------------------------------
    def params(self) -> dict:
        out = {"rnn": self.rnn, "max_len": self.max_len}
        if self.circuit_file is not None:
            out["circuit"] = self.circuit_file
        return out

    def vocab(self) -> Vocab:
        if not self.library:
            return self.circuit.vocab
        if self.machine is not None:
            return Vocab(1, logspace.vocabulary(self.machine))
        return Vocab(1, modcount.vocabulary())

    def answer_set(self) -> tuple:
        return (YES, NO)

    def prompt(self, instance) -> list:
        if not self.library:
            return list(instance)
        if self.machine is not None:
            return logspace.prompt(self.machine, instance, logspace.n_for(self.max_len))
        return modcount.prompt(instance)

    def rnn_trace(self, instance) -> list[str]:
        """The RNN's own chain of thought after the prompt, answer last: the library's reference, or
        (for a circuit file) the interpreter's greedy run."""
        if self.machine is not None:
            return logspace.trace(self.machine, instance, max_steps=self.max_steps)
        if self.rnn == "parity":
            return modcount.parity_trace(instance)
        if self.rnn == "mod3":
            return modcount.mod_trace(instance, 3)
        r = tc.run(self.circuit, self.prompt(instance), max_new=MAX_NEW)
        if not r.stopped:
            raise ValueError(f"circuit {self.circuit.name!r} gives no answer within {MAX_NEW:,} tokens on the "
                             f"prompt {' '.join(self.prompt(instance))}")
        return self.circuit.vocab.tokens(r.generated)

    def solve(self, instance) -> str:
        if self.machine is not None:
            return YES if run(self.machine, instance, max_steps=self.max_steps).accepted else NO
        return self.rnn_trace(instance)[-1]

    def describe_instance(self, instance) -> dict:
        if not self.library:
            return {"input": list(instance), "length": len(instance), "prompt": list(instance)}
        return {"input": list(instance), "length": len(instance)}

    def describe_domain(self) -> str:
        if self.library:
            return f"every input of length 0..{self.max_len} over {list(self.alphabet)}"
        return f"every prompt of 1..{self.max_len} tokens over {list(self.alphabet)}"

    def domain(self, samples: int | None = None, seed: int = 0) -> Domain:
        """Every instance (exhaustive), or ``samples`` of them drawn with ``seed`` (for quick tests)."""
        words = self.words
        details = {"kind": "exhaustive", "alphabet": list(self.alphabet), "description": self.describe_domain()}
        if samples is not None:
            pick = np.sort(np.random.default_rng(seed).choice(len(words), size=min(samples, len(words)),
                                                             replace=False))
            words = [words[i] for i in pick]
            details = {"kind": "random", "seed": seed, "alphabet": list(self.alphabet),
                       "description": f"{len(words)} of: {self.describe_domain()}"}
        part = ListPart(details["description"], len(words), lambda a, b: words[a:b], details)
        return Domain([part], CHUNK, task=self.name, rnn=self.rnn, max_len=self.max_len, kind=details["kind"],
                      circuit=self.params().get("circuit"))
