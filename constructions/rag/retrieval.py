"""Thm 5.2 (corrected): Linear RNNs with in-context regex RAG for Index, AR, c-gram
retrieval and Counting.

Each model emits a sequence of :mod:`theory.rag.retrieval` (the patterns and their proofs are there):
``<StartSearch>``, a pattern, ``<EndSearch>``, the retrieved token (supplied by the retriever), the
answer. Two families:

* ``rag`` (:func:`build_rag_index`, :func:`build_rag_ar`, :func:`build_rag_cgram`,
  :func:`build_rag_counting`): O(1) chain of thought, as Thm 5.2 states. Index and Counting need the
  quantifier tokens ``{k}`` (:mod:`theory.rag.quantifiers`); AR and c-gram need none, and their
  pattern holds no number, so the model never writes a token of the answer set before the answer
  (the stop rule, Sec 3 / App. A.4).
* ``rag-unary`` (:func:`build_rag_index_unary`, :func:`build_rag_counting_unary`): for a vocabulary
  without quantifier tokens; the count is spelled out with one fragment per unit, O(n) CoT.

Everything is driven by one offset:

====================  ===================================================================================
state coordinate      meaning (all from Lemmas C.20/C.21 linear units)
====================  ===================================================================================
``ss``                number of ``<StartSearch>`` so far (0 in the prompt, then 1)
``o``                 tokens since the last prompt token: o_t = o_{t-1} + ss_{t-1} + 1[SS]
                      (0 in the prompt, 1 at ``<StartSearch>``)
``r0 .. rK``          the ``num`` value of the last K+1 tokens (shift register, Lemma C.20); at offset o
                      the last prompt token sits o tokens back, i.e. in ``r{o}``
``qv``, ``tv``        (unary models) the value of the query / threshold token, kept by telescoping,
                      e.g. tv = sum_{prompt} (num_t - num_{t-1}) = num_P
====================  ===================================================================================

so Lambda depends on the task (and the family) only, never on n or c. A template position is an integer
affine function of ``o`` (and of qv / tv in the unary models), and every token is emitted by an exact
integer gate (:mod:`constructions.gadgets.gates`): ``hat(z) * lin = 1[z = 0] * lin`` and
``ge1(z) * lin = 1[z >= 1] * lin`` with small-integer breakpoints, exact in float64 and in R_p once the
integers fit. Emission cancels the current token's embedding, then raises one special coordinate to 1,
writes (num, num_sq) = (2v, 2) for a number v, or (qnt, qnt_sq) = (2k, 2) for a quantifier ``{k}``:
margin 1 in each case (:func:`theory.tokens.number_logit_target`, :mod:`theory.rag.quantifiers`;
k, v >= 1, so the winner's logit k^2 or v^2 is at least 1 above the 0 of every other family). In the
prompt (o = 0) every position proposes ``<StartSearch>``; only the last prompt position is checked.
"""

from __future__ import annotations

from constructions.gadgets.rnn import recent_inputs, running_sum
from constructions.gadgets.gates import cancel_embedding, ge1, hat
from constructions.runtime.builder import FFNSpec, Form, LinearUnitSpec
from constructions.runtime.layout import Layout
from constructions.runtime.rnn import LinearRNN, RNNBlock
from theory.rag import retrieval as rt
from theory.tasks import ar, cgram, counting, index
from theory.tokens import END_SEARCH, FAILED, NO, START_SEARCH, YES, tok


def _offset_unit(lay: Layout, lags: int, name: str) -> LinearUnitSpec:
    """Block-1 linear unit: ss, o and (lags >= 0) the shift register r0..r{lags} of ``num``."""
    u = LinearUnitSpec(lay, name)
    running_sum(u, tok(START_SEARCH), "ss")
    u.keep("o")
    u.keep("o", "ss")
    u.read("o", tok(START_SEARCH))
    if lags >= 0:
        recent_inputs(u, ["num"], [[f"r{k}"] for k in range(lags + 1)])
    return u


def _special(ffn: FFNSpec, name: str, z: Form, target: str) -> None:
    """Emit the special token ``target`` where the integer z is 0."""
    hat(ffn, name, z, {"bias": 1.0}, {tok(target): 1.0})


def _number(ffn: FFNSpec, name: str, z: Form, value: Form) -> None:
    """Emit the number ``value`` where the integer z is 0: num += 2 v, num_sq += 2."""
    hat(ffn, f"{name}:num", z, {k: 2.0 * v for k, v in value.items()}, {"num": 1.0})
    hat(ffn, f"{name}:sq", z, {"bias": 2.0}, {"num_sq": 1.0})


def emit_quantifier(ffn: FFNSpec, name: str, z: Form, value: Form) -> None:
    """Emit the quantifier token ``{value}`` where the integer z is 0: qnt += 2 k, qnt_sq += 2."""
    hat(ffn, f"{name}:qnt", z, {k: 2.0 * v for k, v in value.items()}, {"qnt": 1.0})
    hat(ffn, f"{name}:qsq", z, {"bias": 2.0}, {"qnt_sq": 1.0})


def _o(shift: float, **minus: float) -> Form:
    """The integer form o - shift - sum(coef * coordinate)."""
    form: Form = {"o": 1.0, "bias": -float(shift)}
    for coord, coef in minus.items():
        form[coord] = -coef
    return form


def _telescope(ffn: FFNSpec, name: str, new: str, old: str, dst: str) -> None:
    """dst += (new - old) * 1[no <StartSearch> yet]: summed by a running sum, the prompt part telescopes
    to the value of ``new`` at the last prompt position (registers start at 0). Gate R(1 - ss) = 1 - ss."""
    ffn.unit(name, {"ss": -1.0, "bias": 1.0}, {new: 1.0, old: -1.0}, {dst: 1.0})


def _model(vocab, lay, blocks, task, n, c, family) -> LinearRNN:
    unary = family == "rag-unary"
    meta = {"builder": f"constructions.rag.retrieval:build_rag_{task}{'_unary' if unary else ''}",
            "theorem": "Thm 5.2 (corrected)", "task": task, "rag_task": task, "family": family,
            "n": int(n), "c": c, "claim": claim(task, c, unary)}
    return LinearRNN(vocab, lay, blocks, meta=meta)


# -- O(1) chain of thought (family "rag") ----------------------------------------------------------------
def build_rag_index(n: int) -> LinearRNN:
    """Thm 5.2, Index: depth 1, Lambda = 5 (ss, o, r0..r2), FFN width O(1), vocabulary with the quantifier
    tokens {1}..{n}. CoT: ``<StartSearch> (?x)^(?:\\S+\\s) {i} (\\S+) <EndSearch> x_i x_i`` (7 tokens)."""
    vocab = rt.rag_vocabulary("index", index.vocab(n))
    lay = Layout.for_vocab(vocab, ["ss", "o", "r0", "r1", "r2"])
    u1 = _offset_unit(lay, 2, "ss, o, r0..r2")
    # Token at offset o predicts: 0 -> <StartSearch>, 1 -> the open fragment, 2 -> {i} (i = the query,
    # the last prompt token, 2 tokens back: r2), 3 -> (\S+), 4 -> <EndSearch>, 5 -> (retrieved),
    # 6 -> the answer = the retrieved token's number.
    f1 = FFNSpec(lay)
    cancel_embedding(f1, vocab.coordinates)
    _special(f1, "o=0", _o(0), START_SEARCH)
    _special(f1, "o=1", _o(1), rt.IDXQ_OPEN)
    emit_quantifier(f1, "o=2", _o(2), {"r2": 1.0})
    _special(f1, "o=3", _o(3), rt.IDX_CAPTURE)
    _special(f1, "o=4", _o(4), END_SEARCH)
    _number(f1, "o=6", _o(6), {"num": 1.0})
    blocks = [RNNBlock(u1.build(), f1.build(), "offset, registers; template and answer")]
    return _model(vocab, lay, blocks, "index", n, None, "rag")


def build_rag_cgram(n: int, c: int = 3) -> LinearRNN:
    """Thm 5.2, c-gram retrieval (AR is c = 2): depth 1, Lambda = 2 (ss, o), FFN width O(1), for every c.
    CoT: ``<StartSearch> GRAM_c <EndSearch> y y`` (5 tokens); the pattern refers to the query by a
    backreference, so the model never writes a number before the answer."""
    task_vocab = ar.vocab(n) if c == 2 else cgram.vocab(n, c)
    task = "ar" if c == 2 else "cgram"
    vocab = rt.rag_vocabulary(task, task_vocab, c)
    lay = Layout.for_vocab(vocab, ["ss", "o"])
    u1 = _offset_unit(lay, -1, "ss, o")
    # Token at offset o predicts: 0 -> <StartSearch>, 1 -> GRAM_c, 2 -> <EndSearch>, 3 -> (retrieved),
    # 4 -> the answer = the retrieved token's number.
    f1 = FFNSpec(lay)
    cancel_embedding(f1, vocab.coordinates)
    _special(f1, "o=0", _o(0), START_SEARCH)
    _special(f1, "o=1", _o(1), rt.gram_pattern(c))
    _special(f1, "o=2", _o(2), END_SEARCH)
    _number(f1, "o=4", _o(4), {"num": 1.0})
    blocks = [RNNBlock(u1.build(), f1.build(), "offset; template and answer")]
    return _model(vocab, lay, blocks, task, n, c, "rag")


def build_rag_ar(n: int) -> LinearRNN:
    """Thm 5.2, AR: the c-gram construction with c = 2 (depth 1, Lambda = 2, CoT 5 tokens)."""
    return build_rag_cgram(n, 2)


def build_rag_counting(n: int) -> LinearRNN:
    """Thm 5.2, Counting: depth 1, Lambda = 6 (ss, o, r0..r3), FFN width O(1), vocabulary with the
    quantifier tokens {1}..{n+1}. CoT: ``<StartSearch> OPEN STEP {t+1} END <EndSearch> r YES|NO``
    (8 tokens); r = q if q occurs more than t times, else FAILED."""
    vocab = rt.rag_vocabulary("counting", counting.vocab(n))
    lay = Layout.for_vocab(vocab, ["ss", "o", "r0", "r1", "r2", "r3"])
    u1 = _offset_unit(lay, 3, "ss, o, r0..r3")
    # Token at offset o predicts: 0 -> <StartSearch>, 1 -> OPEN, 2 -> STEP, 3 -> {t + 1} (t = the last
    # prompt token, 3 tokens back: r3; the token "0" has num 0), 4 -> END, 5 -> <EndSearch>,
    # 6 -> (retrieved), 7 -> NO if FAILED was retrieved, else YES (r = q is a number: tok:FAILED = 0).
    f1 = FFNSpec(lay)
    cancel_embedding(f1, vocab.coordinates)
    _special(f1, "o=0", _o(0), START_SEARCH)
    _special(f1, "o=1", _o(1), rt.COUNTQ_OPEN)
    _special(f1, "o=2", _o(2), rt.COUNTQ_STEP)
    emit_quantifier(f1, "o=3", _o(3), {"r3": 1.0, "bias": 1.0})
    _special(f1, "o=4", _o(4), rt.COUNTQ_END)
    _special(f1, "o=5", _o(5), END_SEARCH)
    hat(f1, "o=7:yes", _o(7), {"bias": 1.0, tok(FAILED): -1.0}, {tok(YES): 1.0})
    hat(f1, "o=7:no", _o(7), {tok(FAILED): 1.0}, {tok(NO): 1.0})
    blocks = [RNNBlock(u1.build(), f1.build(), "offset, registers; template and answer")]
    return _model(vocab, lay, blocks, "counting", n, None, "rag")


# -- O(n) chain of thought without quantifier tokens (family "rag-unary") ---------------------------------
def build_rag_index_unary(n: int) -> LinearRNN:
    """Thm 5.2, Index, unary pattern: depth 2, Lambda = 5 (ss, o, r0, r1, qv), FFN width O(1).
    CoT: ``<StartSearch> ^\\S+ (\\S+ x (i-1)) (\\S+) <EndSearch> x_i x_i``, i + 5 tokens (no quantifier
    token: the count is spelled out, docs/errata.md)."""
    vocab = rt.rag_vocabulary("index", index.vocab(n), unary=True)
    lay = Layout.for_vocab(vocab, ["ss", "o", "r0", "r1", "d1", "qv"])
    u1 = _offset_unit(lay, 1, "ss, o, r0..r1")
    f1 = FFNSpec(lay)
    _telescope(f1, "d1", "num", "r1", "d1")
    u2 = LinearUnitSpec(lay, "query i")
    running_sum(u2, "d1", "qv")
    # Token at offset o predicts: 0 -> <StartSearch>, 1 -> ^\S+, 2..i -> \S+, i+1 -> (\S+),
    # i+2 -> <EndSearch>, i+3 -> (retrieved), i+4 -> the answer = the retrieved token's number.
    f2 = FFNSpec(lay)
    cancel_embedding(f2, vocab.coordinates)
    _special(f2, "o=0", _o(0), START_SEARCH)
    _special(f2, "o=1", _o(1), rt.IDX_OPEN)
    # 1[2 <= o <= i] = 1[o - 1 >= 1] - 1[o - i >= 1]  (i >= 1; both integers)
    ge1(f2, "o>=2", _o(1), {"bias": 1.0}, {tok(rt.IDX_SKIP): 1.0})
    ge1(f2, "o>=i+1", _o(0, qv=1.0), {"bias": 1.0}, {tok(rt.IDX_SKIP): -1.0})
    _special(f2, "o=i+1", _o(1, qv=1.0), rt.IDX_CAPTURE)
    _special(f2, "o=i+2", _o(2, qv=1.0), END_SEARCH)
    _number(f2, "o=i+4", _o(4, qv=1.0), {"num": 1.0})
    blocks = [RNNBlock(u1.build(), f1.build(), "offset, registers, telescoped query"),
              RNNBlock(u2.build(), f2.build(), "query i; template and answer")]
    return _model(vocab, lay, blocks, "index", n, None, "rag-unary")


def build_rag_counting_unary(n: int) -> LinearRNN:
    """Thm 5.2, Counting, unary pattern: depth 2, Lambda = 7 (ss, o, r0..r2, qv, tv), FFN width O(1).
    CoT: ``<StartSearch> \\S(?= (\\S+) ) q ((?:\\S+ )*?\\1(?= ) x t) (?=\\S+ \\S) <EndSearch> r YES|NO``,
    t + 7 tokens; r = q if q occurs more than t times, else FAILED."""
    vocab = rt.rag_vocabulary("counting", counting.vocab(n), unary=True)
    lay = Layout.for_vocab(vocab, ["ss", "o", "r0", "r1", "r2", "d1", "d2", "qv", "tv"])
    u1 = _offset_unit(lay, 2, "ss, o, r0..r2")
    f1 = FFNSpec(lay)
    _telescope(f1, "d1", "num", "r1", "d1")   # -> tv: the last prompt token (t; "0" has num 0)
    _telescope(f1, "d2", "r1", "r2", "d2")    # -> qv: the one before it (q)
    u2 = LinearUnitSpec(lay, "query q, threshold t")
    running_sum(u2, "d1", "tv")
    running_sum(u2, "d2", "qv")
    # Token at offset o predicts: 0 -> <StartSearch>, 1 -> the open fragment, 2 -> q, 3..t+2 -> repeat,
    # t+3 -> end fragment, t+4 -> <EndSearch>, t+5 -> (retrieved), t+6 -> NO if FAILED was retrieved,
    # else YES (r = q is a number: tok:FAILED = 0).
    f2 = FFNSpec(lay)
    cancel_embedding(f2, vocab.coordinates)
    _special(f2, "o=0", _o(0), START_SEARCH)
    _special(f2, "o=1", _o(1), rt.COUNT_OPEN)
    _number(f2, "o=2", _o(2), {"qv": 1.0})
    # 1[3 <= o <= t+2] = 1[o - 2 >= 1] - 1[o - t - 2 >= 1]  (t >= 0)
    ge1(f2, "o>=3", _o(2), {"bias": 1.0}, {tok(rt.COUNT_REPEAT): 1.0})
    ge1(f2, "o>=t+3", _o(2, tv=1.0), {"bias": 1.0}, {tok(rt.COUNT_REPEAT): -1.0})
    _special(f2, "o=t+3", _o(3, tv=1.0), rt.COUNT_END)
    _special(f2, "o=t+4", _o(4, tv=1.0), END_SEARCH)
    hat(f2, "o=t+6:yes", _o(6, tv=1.0), {"bias": 1.0, tok(FAILED): -1.0}, {tok(YES): 1.0})
    hat(f2, "o=t+6:no", _o(6, tv=1.0), {tok(FAILED): 1.0}, {tok(NO): 1.0})
    blocks = [RNNBlock(u1.build(), f1.build(), "offset, registers, telescoped query/threshold"),
              RNNBlock(u2.build(), f2.build(), "q, t; template and answer")]
    return _model(vocab, lay, blocks, "counting", n, None, "rag-unary")


def claim(task: str, c: int | None = 3, unary: bool = False) -> dict:
    """Claimed depth, state dimension Lambda and CoT length (tokens after the prompt, answer included;
    a formula in the query i or threshold t for the unary models)."""
    if unary:
        return {"index": {"depth": 2, "state_dim": 5, "cot": "i + 5"},
                "counting": {"depth": 2, "state_dim": 7, "cot": "t + 7"}}[task]
    return {"index": {"depth": 1, "state_dim": 5, "cot": "7"},
            "ar": {"depth": 1, "state_dim": 2, "cot": "5"},
            "cgram": {"depth": 1, "state_dim": 2, "cot": "5"},
            "counting": {"depth": 1, "state_dim": 6, "cot": "8"}}[task]
