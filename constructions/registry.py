"""The catalogue: every construction of the toolkit, found in one place.

One :class:`Construction` per (task, model family). It says which theorem it builds, how to build the
model for a task's parameters, which chain of thought the model must write (the reference, written
from the task's solver, never from weights), whether the regex retriever supplies tokens (in-context
RAG, Def A.5), the claimed size and CoT length, and the command that checks it. The task (a
:class:`theory.tasks.base.Task`) gives the prompts, the reference answers, the answer set V_A at
which decoding stops, and the domains.

Every tool reads this module by import: the checkers (``verify.istree``, ``verify.retrieval``,
``verify.turing``), ``verify.compare``, ``verify.smt``, ``verify.bounds`` and the tests. Adding a
construction is one builder module and one :func:`register` call (``docs/adding-a-construction.md``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from constructions.hybrid import istree as hybrid_istree
from constructions.hybrid import retrieval as hybrid_retrieval
from constructions.hybrid import turing as hybrid_turing
from constructions.rag import istree as rag_istree
from constructions.rag import retrieval as rag_retrieval
from constructions.rag import turing as rag_turing
from constructions.rnn import logspace_turing
from constructions.transformer import ar as tf_ar
from constructions.transformer import cgram as tf_cgram
from constructions.transformer import counting as tf_counting
from constructions.transformer import index as tf_index
from constructions.transformer import istree as tf_istree
from constructions.transformer import rnn_sim, rnn_task, rnn_turing
from theory import hybrid_trace
from theory.rag import istree as rag_istree_trace
from theory.rag import retrieval as rag_retrieval_trace
from theory.rag import turing as rag_turing_trace
from theory.tasks import istree as istree_task
from theory.tasks.ar import ARTask
from theory.tasks.base import Task
from theory.tasks import logspace
from theory.tasks.cgram import CgramTask
from theory.tasks.circuit_rnn import CircuitRNNTask
from theory.tasks.counting import CountingTask
from theory.tasks.index import IndexTask
from theory.tasks.istree import IstreeTask
from theory.tasks.turing import TuringTask

FAMILIES = {"transformer": "Transformer", "rag": "RAG-RNN", "rag-unary": "RAG-unary",
            "hybrid": "hybrid", "rnn-cot": "RNN+CoT"}
# "rag-unary": Thm 5.2's Index and Counting for a vocabulary without quantifier tokens {k} (O(n) CoT);
# "rag" uses them where a count is needed (O(1) CoT; theory/rag/quantifiers.py, docs/rag.md).
# "rnn-cot": a Linear RNN with CoT and no retrieval (Thm 4.1; the small RNNs that Thm 4.8 compiles).


@dataclass(frozen=True)
class Construction:
    """One construction: ``build(task)`` is the model; ``reference(task, instance)`` the tokens the
    model must write after the prompt, the answer last (``None``: no chain of thought, the answer
    follows the prompt)."""

    task: type[Task]
    family: str
    theorem: str
    build: Callable[[Task], Any]
    reference: Callable[[Task, Any], list] | None
    claim: Callable[[Task], dict[str, Any]]   # shape() entries that must not change with n
    cot: str                                  # the claimed CoT length, in words
    checker: str                              # the command that checks it (N, L: the size)
    retrieval: bool = False                   # the regex retriever supplies the tokens after <EndSearch>
    sizes: tuple[int, ...] = (6, 12, 24)      # sizes at which the catalogue test builds and compares
    prompt: Callable[[Task, Any], list] | None = None  # the construction's own input format, if not the task's

    @property
    def name(self) -> str:
        return f"{self.task.name}/{self.family}"


def task_of_size(task: type[Task], n: int, **params) -> Task:
    """The task at size n: n vertices, n data tokens, or inputs up to length n for a machine."""
    if task is TuringTask:
        return TuringTask(params.pop("machine", "palindrome"), n, **params)
    if task is CircuitRNNTask:
        return CircuitRNNTask(params.pop("rnn", "parity"), n, **params)
    return task(n, **params)


def _fixed(claim: dict) -> Callable[[Task], dict]:
    return lambda task: dict(claim)


def _tm_bounds(task: TuringTask) -> dict:
    return {"offset": task.bounds.offset, "n_vocab": task.bounds.n_vocab}


def _chain(task: TuringTask) -> rnn_turing.TuringChain:
    """The cached chain TM -> Thm 4.1 RNN -> circuit -> Thm 4.8 Transformer for a Turing task."""
    return rnn_turing.chain_for(task.machine, task.max_len, n_vocab=task.bounds.n_vocab)


def _logspace_claim(task: TuringTask) -> dict:
    return logspace_turing.claim(task.machine, logspace.tape_window(task.machine, task.words), task.max_len)


def _padded_prompt(task: TuringTask, word) -> list:
    """Thm 4.1's input format: ``0^{n-|x|} sym:x`` with n = 2^L (theory.tasks.logspace)."""
    return logspace.prompt(task.machine, word, logspace.n_for(task.max_len))


def _rag_retrieval(task, prompt) -> list:
    return rag_retrieval_trace.retrieval_rag_trace(task.name, task.n, getattr(task, "c", None), prompt)


def _rag_retrieval_unary(task, prompt) -> list:
    return rag_retrieval_trace.retrieval_rag_trace(task.name, task.n, None, prompt, unary=True)


CATALOGUE: list[Construction] = [
    # -- Transformers (Thms 4.6, 4.7) ------------------------------------------------------------
    Construction(IndexTask, "transformer", "Thm 4.6 (Index), App. C.4",
                 lambda t: tf_index.build_index_transformer(t.n), None, _fixed(tf_index.CLAIM), "0",
                 "python -m verify.retrieval --task index --n N"),
    Construction(ARTask, "transformer", "Thm 4.6 (Associative Recall), App. C.4",
                 lambda t: tf_ar.build_ar_transformer(t.n), None, _fixed(tf_ar.CLAIM), "0",
                 "python -m verify.retrieval --task ar --n N"),
    Construction(CgramTask, "transformer", "Thm 4.6 (c-gram retrieval), App. C.4",
                 lambda t: tf_cgram.build_cgram_transformer(t.n, t.c), None,
                 lambda t: tf_cgram.claim(t.c), "0", "python -m verify.retrieval --task cgram --n N --c 3"),
    Construction(CountingTask, "transformer", "Thm 4.6 (Counting), App. C.4",
                 lambda t: tf_counting.build_counting_transformer(t.n), None, _fixed(tf_counting.CLAIM), "0",
                 "python -m verify.retrieval --task counting --n N"),
    Construction(IstreeTask, "transformer", "Thm 4.7 (Lemma C.27), corrected 7-block schedule",
                 lambda t: tf_istree.build_istree_transformer(t.n),
                 lambda t, edges: istree_task.reference_trace(t.n, edges),
                 _fixed(tf_istree.CLAIM), "at most 2n (DFS tour, then YES/NO)", "python -m verify.istree --n N"),
    # -- RAG Linear RNNs (Thms 5.2-5.4) ----------------------------------------------------------
    Construction(IndexTask, "rag", "Thm 5.2 (Index, RAG Linear RNN): quantifier token {i}",
                 lambda t: rag_retrieval.build_rag_index(t.n), _rag_retrieval,
                 _fixed({"depth": 1, "state_dim": 5, "width": 20, "ffn_width": 38}), "7 (O(1))",
                 "python -m verify.retrieval --task index --n N --model rag", retrieval=True),
    Construction(IndexTask, "rag-unary", "Thm 5.2 (Index, RAG Linear RNN): unary regex, no quantifier tokens",
                 lambda t: rag_retrieval.build_rag_index_unary(t.n), _rag_retrieval_unary,
                 _fixed({"depth": 2, "state_dim": 5, "width": 20, "ffn_width": 35}), "i + 5 (O(n))",
                 "python -m verify.retrieval --task index --n N --model rag-unary", retrieval=True),
    Construction(ARTask, "rag", "Thm 5.2 (AR, RAG Linear RNN): backreference to the query",
                 lambda t: rag_retrieval.build_rag_ar(t.n), _rag_retrieval,
                 _fixed({"depth": 1, "state_dim": 2, "width": 14, "ffn_width": 26}), "5 (O(1))",
                 "python -m verify.retrieval --task ar --n N --model rag", retrieval=True),
    Construction(CgramTask, "rag", "Thm 5.2 (c-gram, RAG Linear RNN): backreference to the query",
                 lambda t: rag_retrieval.build_rag_cgram(t.n, t.c), _rag_retrieval,
                 _fixed({"depth": 1, "state_dim": 2, "width": 14, "ffn_width": 26}), "5 (O(1))",
                 "python -m verify.retrieval --task cgram --n N --c 3 --model rag", retrieval=True),
    Construction(CountingTask, "rag", "Thm 5.2 (Counting, RAG Linear RNN): quantifier token {t+1}",
                 lambda t: rag_retrieval.build_rag_counting(t.n), _rag_retrieval,
                 _fixed({"depth": 1, "state_dim": 6, "width": 23, "ffn_width": 43}), "8 (O(1))",
                 "python -m verify.retrieval --task counting --n N --model rag", retrieval=True),
    Construction(CountingTask, "rag-unary", "Thm 5.2 (Counting, RAG Linear RNN): unary backreference regex",
                 lambda t: rag_retrieval.build_rag_counting_unary(t.n), _rag_retrieval_unary,
                 _fixed({"depth": 2, "state_dim": 7, "width": 24, "ffn_width": 42}), "t + 7 (O(n))",
                 "python -m verify.retrieval --task counting --n N --model rag-unary", retrieval=True),
    Construction(IstreeTask, "rag", "Thm 5.3 (RAG Linear RNN, retrieval DFS with parent records)",
                 lambda t: rag_istree.build_rag_istree(t.n),
                 lambda t, edges: rag_istree_trace.istree_rag_trace(t.n, edges),
                 _fixed({"depth": 4, "state_dim": 39, "width": 187, "ffn_width": 213}), "O(n)",
                 "python -m verify.istree --n N --model rag", retrieval=True),
    Construction(TuringTask, "rag", "Thm 5.4 (RAG Linear RNN simulating a Turing machine)",
                 lambda t: rag_turing.build_rag_turing(t.machine, t.max_len, **_tm_bounds(t)),
                 lambda t, word: rag_turing_trace.tm_rag_trace(t.machine, word, offset=t.bounds.offset,
                                                               max_steps=t.max_steps),
                 _fixed({"depth": 4, "state_dim": 21, "ffn_width": 113}),
                 "9 per input cell + 12 per step + 1 (O(n + T))",
                 "python -m verify.turing --machine M --max-len L --model rag", retrieval=True, sizes=(2, 4, 6)),
    # -- hybrids: Linear RNN + one attention layer (Thms 5.6-5.8) ---------------------------------
    Construction(IndexTask, "hybrid", "Thm 5.6 (Index): position by a running sum + one Match layer",
                 lambda t: hybrid_retrieval.build_index_hybrid(t.n), None,
                 _fixed(hybrid_retrieval.claim("index")), "0",
                 "python -m verify.retrieval --task index --n N --model hybrid"),
    Construction(ARTask, "hybrid", "Thm 5.6 (Associative Recall): shift register + one Match layer",
                 lambda t: hybrid_retrieval.build_ar_hybrid(t.n), None,
                 _fixed(hybrid_retrieval.claim("ar")), "0",
                 "python -m verify.retrieval --task ar --n N --model hybrid"),
    Construction(CgramTask, "hybrid", "Thm 5.6 (c-gram retrieval): shift register + one Match layer",
                 lambda t: hybrid_retrieval.build_cgram_hybrid(t.n, t.c), None,
                 lambda t: hybrid_retrieval.claim("cgram", t.c), "0",
                 "python -m verify.retrieval --task cgram --n N --c 3 --model hybrid"),
    Construction(CountingTask, "hybrid", "Thm 5.6 (Counting): query held in the state + one COUNT layer",
                 lambda t: hybrid_retrieval.build_counting_hybrid(t.n), None,
                 _fixed(hybrid_retrieval.claim("counting")), "0",
                 "python -m verify.retrieval --task counting --n N --model hybrid"),
    Construction(IstreeTask, "hybrid", "Thm 5.7: doubling MatchNearest search",
                 lambda t: hybrid_istree.build_istree_hybrid(t.n),
                 lambda t, edges: hybrid_trace.istree_hybrid_trace(t.n, edges),
                 lambda t: hybrid_istree.claim(t.n), "O(n log n)", "python -m verify.istree --n N --model hybrid"),
    Construction(TuringTask, "hybrid", "Thm 5.8 (hybrid TM simulation): one MatchClose head",
                 lambda t: hybrid_turing.build_hybrid_turing(t.machine, t.max_len, **_tm_bounds(t)),
                 lambda t, word: hybrid_trace.tm_hybrid_trace(t.machine, word, offset=t.bounds.offset,
                                                              max_steps=t.max_steps),
                 lambda t: hybrid_turing.claim(t.machine), "5 per step",
                 "python -m verify.turing --machine M --max-len L --model hybrid", sizes=(2, 4, 6)),
    # -- CoT without retrieval: Thm 4.1 (Linear RNN), Thm 4.8 (Transformer simulating a circuit RNN) ---
    Construction(TuringTask, "rnn-cot", "Thm 4.1 (Linear RNN with CoT, log-space TM; input 0^(n-|x|) x, n = 2^L)",
                 lambda t: logspace_turing.build_logspace_turing(t.machine, t.max_len, **_tm_bounds(t)),
                 lambda t, word: logspace.trace(t.machine, word, max_steps=t.max_steps), _logspace_claim,
                 "T + 1 (one step token per machine step, then the answer)",
                 "python -m verify.turing --machine M --max-len L --model rnn-cot", sizes=(2, 4, 6),
                 prompt=_padded_prompt),
    Construction(TuringTask, "transformer",
                 "Thm 4.8 on Thm 4.1 (TM -> Linear RNN -> circuit -> Transformer, App. C.7)",
                 lambda t: _chain(t).transformer, lambda t, word: _chain(t).trace(word),
                 lambda t: rnn_sim.claim(_chain(t).circuit),
                 "(n + T)(C + 1): C gate bits + 1 token per RNN step, over the n = 2^L prompt tokens and "
                 "the T + 1 tokens of the Thm 4.1 CoT",
                 "python -m verify.turing --machine M --max-len L --model transformer", sizes=(1, 2, 3),
                 prompt=_padded_prompt),
    Construction(CircuitRNNTask, "rnn-cot", "Linear RNN with CoT (library: parity, mod3, Thm 4.1)",
                 rnn_task.build_task_rnn, lambda t, instance: t.rnn_trace(instance), rnn_task.rnn_claim,
                 "the RNN's own: 0 (parity), 1 (mod3), T + 1 (Thm 4.1)",
                 "python -m verify.rnn --rnn NAME --max-len L --model rnn-cot", sizes=(2, 4, 8)),
    Construction(CircuitRNNTask, "transformer", "Thm 4.8 (App. C.7): Transformer simulating a circuit RNN",
                 rnn_task.build_task_transformer, rnn_task.gate_reference,
                 lambda t: rnn_sim.claim(rnn_task.circuit_of(t)),
                 "(l + T - 1)(C + 1): C gate bits + 1 token per RNN step (prompt length l, RNN CoT T tokens)",
                 "python -m verify.rnn --rnn NAME|FILE.json --max-len L", sizes=(2, 4, 8)),
]


def register(construction: Construction) -> Construction:
    """Add a construction to the catalogue (an extension, or a test's toy); names must stay unique."""
    if any(c.name == construction.name for c in CATALOGUE):
        raise ValueError(f"a construction named {construction.name!r} is already registered")
    CATALOGUE.append(construction)
    return construction


def unregister(name: str) -> None:
    CATALOGUE[:] = [c for c in CATALOGUE if c.name != name]


def get(task: str, family: str) -> Construction:
    """The construction for (task, family); a ValueError that lists what exists otherwise."""
    for c in CATALOGUE:
        if c.task.name == task and c.family == family:
            return c
    have = sorted(c.family for c in CATALOGUE if c.task.name == task)
    if have:
        raise ValueError(f"no {family!r} construction for task {task!r}; there are: {', '.join(have)}")
    raise ValueError(f"no construction for task {task!r}; tasks: {', '.join(tasks())}")


def find(task: str, family: str) -> Construction | None:
    return next((c for c in CATALOGUE if c.task.name == task and c.family == family), None)


def tasks(kind: type[Task] | None = None) -> list[str]:
    """Task names with at least one construction, in catalogue order (of a Task subclass, if given)."""
    out: list[str] = []
    for c in CATALOGUE:
        if (kind is None or issubclass(c.task, kind)) and c.task.name not in out:
            out.append(c.task.name)
    return out


def families(task: str) -> list[str]:
    return [c.family for c in CATALOGUE if c.task.name == task]


def claim_of(task: str, family: str, n: int) -> dict | None:
    """The claimed shape of (task, family) at size n, or None if there is no such construction."""
    c = find(task, family)
    return None if c is None else c.claim(task_of_size(c.task, n))


def task_class(name: str) -> type[Task]:
    for c in CATALOGUE:
        if c.task.name == name:
            return c.task
    raise ValueError(f"no construction for task {name!r}; tasks: {', '.join(tasks())}")
