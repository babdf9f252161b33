"""Thm 4.8 for a :class:`theory.tasks.circuit_rnn.CircuitRNNTask`: the catalogue's builders and references.

* :func:`circuit_of`: the circuit the task checks: a circuit file's own, or a library RNN built for
  inputs up to L and compiled (constructions.rnn.compile), attached to the task on first use so that
  the builder and every reference see one circuit.
* :func:`build_task_transformer`: the Thm 4.8 Transformer of that circuit, sized for the longest
  sequence (prompt + gate trace) of the domain.
* :func:`gate_reference`: its reference chain of thought, the circuit interpreter's gate trace
  (theory.circuit.gate_trace); the task's answer (the check's independent side) is the library's
  reference, or the interpreter's for a circuit file.
* :func:`build_task_rnn`: the library RNN itself (the Linear RNN with CoT), for the ``rnn-cot`` entry.
"""

from __future__ import annotations

from constructions.rnn import library
from constructions.runtime.rnn import LinearRNN
from constructions.runtime.transformer import Transformer
from constructions.transformer.rnn_sim import build_rnn_transformer
from theory import circuit as tc
from theory.tasks.circuit_rnn import MAX_NEW, CircuitRNNTask


def circuit_of(task: CircuitRNNTask) -> tc.Circuit:
    if task.circuit is None:
        task.circuit = library.circuit(task.rnn, task.max_len)
    return task.circuit


def gate_reference(task: CircuitRNNTask, instance) -> list[str]:
    return tc.gate_trace(circuit_of(task), task.prompt(instance), max_new=MAX_NEW)


def longest_sequence(task: CircuitRNNTask) -> int:
    """Prompt + gate trace, the longest over the domain (the interpreter runs every instance)."""
    return max(len(task.prompt(w)) + len(gate_reference(task, w)) for w in task.words)


def build_task_transformer(task: CircuitRNNTask) -> Transformer:
    model = build_rnn_transformer(circuit_of(task), longest_sequence(task))
    model.meta.update(task="rnn", rnn=task.rnn, rnn_max_len=task.max_len)
    return model


def build_task_rnn(task: CircuitRNNTask) -> LinearRNN:
    if not task.library:
        raise ValueError(f"{task.rnn} is a circuit, not a Linear RNN: check its Thm 4.8 Transformer "
                         "(--model transformer)")
    return library.get(task.rnn).build(task.max_len)


def rnn_claim(task: CircuitRNNTask) -> dict:
    """The library RNN's own claim (depth, state dimension; the Thm 4.1 RNN also its width)."""
    return dict(build_task_rnn(task).meta["claim"])
