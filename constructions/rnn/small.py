"""Two tiny Linear RNNs for Thm 4.8's library (theory.tasks.modcount): parity and a counter mod k.

Both keep one state number, the count c of 1s read so far (Lemma C.21), in the range 0..L for
inputs of length <= L, and read it out with an FFN lookup over c (integer hats, width 3 (L + 1)):

* :func:`build_parity_rnn`: YES iff c is odd, right after the prompt.
* :func:`build_mod_rnn`: after the prompt the number token (c mod k) + 1 (read-out (2v, 2) into
  (num, num_sq), theory.tokens.number_logit_target), and at that number token YES iff c mod k = 0.

A Linear RNN's state update h_t = A h_{t-1} + B x_t cannot fold the count modulo k, so the state
range, and the FFN width, grow with L (not constant size; these are test subjects for the circuit
compiler and Thm 4.8, where the compiled circuit reads the count's bits and is tiny). Claimed size:
depth 1, state_dim 1, ffn_width 3 (L + 1) + O(1). Every value is an integer: a hat unit's product
is at most (L + 2) 2k and the read-out's partial sums stay below 4 (L + 2) 2k (parity: 4 (L + 2)),
the logits below 2 k^2; ``meta["p"]`` is the R_p precision that holds them all (no rounding).
"""

from __future__ import annotations

from constructions.gadgets.ffn import linear
from constructions.gadgets.gates import hat
from constructions.gadgets.rnn import running_sum
from constructions.runtime.builder import FFNSpec, LinearUnitSpec
from constructions.runtime.layout import Layout
from constructions.runtime.rnn import LinearRNN, RNNBlock
from theory.tasks import modcount
from theory.tokens import BOS, NO, YES, Vocab

SPECIALS = ("tok:" + BOS,) + tuple("tok:" + t for t in modcount.vocabulary())


def _precision(top: int) -> int:
    return 2 * int(top).bit_length() + 1


def _counter(vocab: Vocab) -> tuple[Layout, LinearUnitSpec]:
    layout = Layout.for_vocab(vocab, ["count"])
    unit = LinearUnitSpec(layout, "count of 1s")
    running_sum(unit, "tok:sym:1", "count")
    return layout, unit


def build_parity_rnn(max_len: int) -> LinearRNN:
    """YES iff the prompt ``<s> sym:b_1 .. sym:b_l`` (l <= ``max_len``) has an odd number of 1s."""
    vocab = Vocab(1, extra=modcount.vocabulary())
    layout, unit = _counter(vocab)
    ffn = FFNSpec(layout)
    for c in range(max_len + 1):
        hat(ffn, f"[count={c}]", {"count": 1.0, "bias": -float(c)}, {"bias": 1.0}, {"tok:" + (YES if c % 2 else NO): 1.0})
    linear(ffn, "clear", {t: {t: -1.0} for t in SPECIALS})
    meta = {"builder": "build_parity_rnn", "task": "parity", "max_len": max_len, "p": _precision(4 * (max_len + 2)),
            "ranges": {"count": [0, max_len], "tok:YES": [0, 1], "tok:NO": [0, 1]},
            "input_tokens": [BOS, "sym:0", "sym:1"], "claim": {"depth": 1, "state_dim": 1}}
    return LinearRNN(vocab, layout, [RNNBlock(unit.build(), ffn.build(), "count; parity lookup")], meta=meta)


def build_mod_rnn(k: int, max_len: int) -> LinearRNN:
    """CoT ``(c mod k) + 1`` then YES iff c mod k = 0, for c the number of 1s (l <= ``max_len``)."""
    if k < 2:
        raise ValueError(f"k must be >= 2, got {k}")
    vocab = Vocab(k, extra=modcount.vocabulary())
    layout, unit = _counter(vocab)
    ffn = FFNSpec(layout)
    prompt_token = {t: 1.0 for t in SPECIALS}                 # 1 on <s> and the bits, 0 on a number
    is_number = {"bias": 1.0, **{t: -1.0 for t in SPECIALS}}
    for c in range(max_len + 1):
        v = c % k + 1
        # On a prompt token: num += 2 v [count = c] (the read-out then picks number v); on a number
        # token (the CoT): YES or NO by [count = c] and c mod k.
        at_c = {"count": 1.0, "bias": -float(c)}
        hat(ffn, f"num[count={c}]", at_c, {t: 2.0 * v for t in prompt_token}, {"num": 1.0})
        hat(ffn, f"verdict[count={c}]", at_c, is_number, {"tok:" + (YES if v == 1 else NO): 1.0})
    linear(ffn, "num_sq", {"num_sq": {**{t: 2.0 for t in prompt_token}, "num_sq": -1.0}})
    linear(ffn, "clear", {"num": {"num": -1.0}, **{t: {t: -1.0} for t in SPECIALS}})
    meta = {"builder": "build_mod_rnn", "task": f"mod{k}", "k": k, "max_len": max_len,
            "p": _precision(max(8 * k * (max_len + 2), 2 * k * k + 1)),
            "ranges": {"count": [0, max_len], "tok:YES": [0, 1], "tok:NO": [0, 1]},
            "input_tokens": [BOS, "sym:0", "sym:1"] + [str(v) for v in range(1, k + 1)],
            "claim": {"depth": 1, "state_dim": 1}}
    return LinearRNN(vocab, layout, [RNNBlock(unit.build(), ffn.build(), "count; residue lookup")], meta=meta)
