"""Writing weights by name: heads as sums of key-feature x query-feature terms, FFNs as named units.

A head's score is written as a sum of terms, each the product of a linear form of the key's
residual and a linear form of the query's residual::

    h = HeadSpec(layout, "COPY s=1")
    h.term(key={"pos": 1.0}, query={"pos": 2.0, "one": -2.0})   # contributes 2 k' (k - 1)
    h.value("num", "prev_num")                                   # copy coordinate num -> prev_num

Each term becomes one row of W_K and W_Q. An FFN is a list of ReGLU units
``out += coef * ReLU(gate . x + gate_bias) * (lin . x + lin_bias)``, each with a name; the key
``"bias"`` inside a linear form stands for the constant term.
"""

from __future__ import annotations

import numpy as np

from constructions.runtime.layout import Layout
from constructions.runtime.rnn import LinearUnit
from constructions.runtime.transformer import FFN, Head

Form = dict[str, float]


class HeadSpec:
    def __init__(self, layout: Layout, name: str):
        self.layout, self.name = layout, name
        self._q: list[np.ndarray] = []
        self._k: list[np.ndarray] = []
        self._v = np.zeros((len(layout), len(layout)))

    def _row(self, form: Form) -> np.ndarray:
        row = np.zeros(len(self.layout))
        for coord, coef in form.items():
            if coord == "bias":
                raise ValueError(f"head {self.name}: attention projections have no bias term")
            row[self.layout[coord]] += coef
        return row

    def term(self, key: Form, query: Form) -> "HeadSpec":
        """score += (key form at k') * (query form at k)."""
        self._k.append(self._row(key))
        self._q.append(self._row(query))
        return self

    def value(self, src: str, dst: str, coef: float = 1.0) -> "HeadSpec":
        """The head writes ``coef * (attended average of src)`` into dst."""
        self._v[self.layout[dst], self.layout[src]] += coef
        return self

    def build(self) -> Head:
        if not self._q:
            raise ValueError(f"head {self.name} has no score terms")
        return Head(np.array(self._q), np.array(self._k), self._v, name=self.name)


class FFNSpec:
    def __init__(self, layout: Layout):
        self.layout = layout
        self._units: list[tuple[str, Form, Form, Form]] = []
        self._b3 = np.zeros(len(layout))

    def unit(self, name: str, gate: Form, lin: Form, out: Form) -> "FFNSpec":
        """One hidden unit: ``out[c] += coef * ReLU(gate . x) * (lin . x)``."""
        self._units.append((name, dict(gate), dict(lin), dict(out)))
        return self

    def linear(self, name: str, src: Form, out: Form) -> "FFNSpec":
        """``out += src . x`` (Lemma C.2: gate ReLU(1) = 1 times a linear form)."""
        return self.unit(name, {"bias": 1.0}, src, out)

    def out_bias(self, dst: str, value: float) -> "FFNSpec":
        self._b3[self.layout[dst]] += value
        return self

    def _vec(self, form: Form) -> tuple[np.ndarray, float]:
        row, bias = np.zeros(len(self.layout)), 0.0
        for coord, coef in form.items():
            if coord == "bias":
                bias += coef
            else:
                row[self.layout[coord]] += coef
        return row, bias

    def build(self) -> FFN:
        d, w = len(self.layout), len(self._units)
        W1, W2, W3 = np.zeros((w, d)), np.zeros((w, d)), np.zeros((d, w))
        b1, b2 = np.zeros(w), np.zeros(w)
        for i, (_, gate, lin, out) in enumerate(self._units):
            W1[i], b1[i] = self._vec(gate)
            W2[i], b2[i] = self._vec(lin)
            for coord, coef in out.items():
                W3[self.layout[coord], i] += coef
        return FFN(W1, b1, W2, b2, W3, self._b3.copy(), units=[u[0] for u in self._units])


class LinearUnitSpec:
    """A linear unit ``h_t = A h_{t-1} + B x_t`` (Def 3.4) written by name.

    ``h`` lives in the residual's coordinates: the unit's output is added to the residual, so a
    state coordinate is a residual coordinate that this unit (and nothing else) writes.
    """

    def __init__(self, layout: Layout, name: str = ""):
        self.layout, self.name = layout, name
        self.A = np.zeros((len(layout), len(layout)))
        self.B = np.zeros((len(layout), len(layout)))

    def keep(self, state: str, src_state: str | None = None, coef: float = 1.0) -> "LinearUnitSpec":
        """``h_t[state] += coef * h_{t-1}[src_state]`` (default: itself, i.e. carry it over)."""
        self.A[self.layout[state], self.layout[src_state or state]] += coef
        return self

    def read(self, state: str, src: str, coef: float = 1.0) -> "LinearUnitSpec":
        """``h_t[state] += coef * x_t[src]``."""
        self.B[self.layout[state], self.layout[src]] += coef
        return self

    def build(self) -> LinearUnit:
        return LinearUnit(self.A.copy(), self.B.copy(), self.name)
