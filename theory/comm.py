"""Exact one-way communication complexity of the paper's tasks for small n, by brute force.

A deterministic streaming model (an RNN with any transition, with or without CoT) that is cut at a
split point of its input is a one-way protocol: Alice runs it on the prefix and hands the state to
Bob, who finishes the run on the suffix and all CoT tokens (Lemma C.24 and the proof of Thm 4.6).
Two prefixes that get
different answers on some common suffix must therefore leave different states. The least number of
states any model needs at the split is

* for a **total** task (every prefix/suffix pair is an input): the number of distinct rows of the
  communication matrix ``F[prefix, suffix]`` (Myhill–Nerode);
* for a **promise** task (IsTree on simple graphs: Bob's edges must avoid Alice's): the chromatic
  number of the conflict graph on prefixes (two prefixes conflict when a suffix valid for both gets
  different answers). :func:`istree_split` pins it exactly by an explicit colouring whose classes
  are checked conflict-free on the full matrix (upper bound) and an explicit clique of pairwise
  conflicting prefixes (lower bound).

``ceil(log2(states))`` is then the exact minimum memory in bits at that split, with or without CoT.

Everything here computes the full matrix entry by entry from the plain task definitions below; the
canonical keys (Alice's component partition for IsTree) are only used to *propose* the colouring
and the clique, and both proposals are verified against the full matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from theory.tasks.istree import is_tree

FAILED = 0  # the AR answer when the query has no successor (a number token is never 0)


# --------------------------------------------------------------------------- plain task answers
def index_answer(x, k: int) -> int:
    """Index: the token at position k (1-based)."""
    return int(x[k - 1])


def ar_answer(x, q: int) -> int:
    """Associative recall: the token right after the first occurrence of q, else FAILED (0)."""
    for pos, tok in enumerate(x[:-1]):
        if tok == q:
            return int(x[pos + 1])
    return FAILED


def counting_answer(x, q: int, t: int) -> int:
    """Counting: 1 if q occurs more than t times in x, else 0."""
    return int(sum(1 for tok in x if tok == q) > t)


def is_tree_edges(n: int, edges) -> bool:
    """IsTree on vertices 1..n (the task's union-find reference, theory.tasks.istree.is_tree)."""
    return is_tree(n, list(edges))


# --------------------------------------------------------------------------- sequence tasks
SEQUENCE_TASKS = ("index", "ar", "counting")


def all_sequences(n: int, sigma: int) -> np.ndarray:
    """Every x in [sigma]^n as rows, in lexicographic order (x_1 most significant)."""
    if n == 0:
        return np.zeros((1, 0), dtype=np.int64)
    grids = np.indices((sigma,) * n).reshape(n, -1).T
    return grids.astype(np.int64) + 1


def answer_table(task: str, n: int, sigma: int) -> np.ndarray:
    """``F[x, query]`` over the whole domain [sigma]^n, vectorised.

    Queries: Index k in 1..n; AR q in 1..sigma; Counting (q, t) for q in 1..sigma, t in 0..n.
    """
    xs = all_sequences(n, sigma)
    if task == "index":
        return xs.copy()
    if task == "ar":
        out = np.full((xs.shape[0], sigma), FAILED, dtype=np.int64)
        found = np.zeros_like(out, dtype=bool)
        for pos in range(n - 1):
            for q in range(1, sigma + 1):
                hit = (xs[:, pos] == q) & ~found[:, q - 1]
                out[hit, q - 1] = xs[hit, pos + 1]
                found[:, q - 1] |= xs[:, pos] == q
        return out
    if task == "counting":
        counts = np.stack([(xs == q).sum(axis=1) for q in range(1, sigma + 1)], axis=1)
        thresholds = np.arange(n + 1)
        return (counts[:, :, None] > thresholds[None, None, :]).reshape(xs.shape[0], -1).astype(np.int64)
    raise ValueError(f"unknown sequence task {task!r}; choose from {', '.join(SEQUENCE_TASKS)}")


def count_distinct_rows(matrix: np.ndarray) -> int:
    """Number of distinct rows of a 2-D integer matrix (rows hashed as raw bytes)."""
    matrix = np.ascontiguousarray(matrix.astype(np.int8))
    view = matrix.view(np.dtype((np.void, matrix.shape[1] * matrix.dtype.itemsize)))
    return int(np.unique(view).shape[0])


def sequence_rows_by_split(task: str, n: int, sigma: int) -> list[int]:
    """Exact distinct-row counts for splits i = 0..n (Alice holds x_1..x_i; Bob the rest and the query).

    With x encoded base sigma (x_1 most significant), reshaping ``F`` to ``(sigma^i, -1)`` puts every
    prefix in one row and every (suffix, query) pair in one column, so the row count is exact.
    """
    table = answer_table(task, n, sigma)
    return [count_distinct_rows(table.reshape(sigma ** i, -1)) for i in range(n + 1)]


# --------------------------------------------------------------------------- IsTree
def edge_list(n: int) -> list[tuple[int, int]]:
    """All possible edges u < v on vertices 1..n, in lexicographic order."""
    return list(combinations(range(1, n + 1), 2))


def _masks(num_edges: int, size: int) -> np.ndarray:
    """Bit masks of every ``size``-subset of ``num_edges`` edges."""
    return np.array([sum(1 << e for e in combo) for combo in combinations(range(num_edges), size)],
                    dtype=np.int64)


def component_labels(n: int, masks: np.ndarray) -> np.ndarray:
    """Label of each vertex (0-based) = smallest vertex of its component, for each edge mask.

    Label propagation over all edges, repeated n-1 times (each sweep extends every path by >= 1 hop).
    """
    edges = edge_list(n)
    labels = np.tile(np.arange(n, dtype=np.int64), (masks.shape[0], 1))
    for _ in range(max(n - 1, 0)):
        for e, (u, v) in enumerate(edges):
            has = ((masks >> e) & 1).astype(bool)
            low = np.minimum(labels[has, u - 1], labels[has, v - 1])
            labels[has, u - 1] = low
            labels[has, v - 1] = low
    # one more pass so every vertex points at its component minimum directly
    return np.take_along_axis(labels, labels, axis=1)


def tree_masks(n: int) -> np.ndarray:
    """Sorted masks of every (n-1)-edge set that is a spanning tree (connected with n-1 edges)."""
    masks = _masks(len(edge_list(n)), n - 1)
    labels = component_labels(n, masks)
    return np.sort(masks[(labels == 0).all(axis=1)])


@dataclass(frozen=True)
class IsTreeSplit:
    """Exact state count for IsTree at one split: Alice has m-j edges, Bob the last j (m = n-1)."""

    n: int
    j: int
    prefixes: int            # edge sets Alice can hold
    suffixes: int            # edge sets Bob can hold
    classes: int             # colour classes proposed: one per forest partition, one "has a cycle"
    colouring_ok: bool       # no two prefixes of one class conflict on any common valid suffix
    clique: int              # size of a verified clique of pairwise conflicting prefixes
    chromatic: int | None    # exact chromatic number by Z3, computed only when the clique falls short

    @property
    def states(self) -> int | None:
        """The exact minimum number of states at this split (None if not pinned down)."""
        if self.colouring_ok and self.clique == self.classes:
            return self.classes
        return self.chromatic


def istree_answers(n: int, j: int, trees: np.ndarray | None = None, chunk: int = 4096):
    """The IsTree communication matrix: (Alice's edge masks, Bob's, YES, NO) for n vertices, n - 1 edges.

    Rows are Alice's edge sets of size n - 1 - j, columns Bob's of size j; an entry is defined when
    the sets are disjoint (the graph is simple) and is then IsTree of the union: ``yes[a, b]`` and
    ``no[a, b]`` are both False where it is undefined. The edge *order* inside each part never changes
    an answer or a validity, so sets stand for all their orderings.
    """
    if n < 2 or not 0 <= j <= n - 1:
        raise ValueError(f"need n >= 2 and 0 <= j <= n-1, got n={n}, j={j}")
    num_edges = len(edge_list(n))
    trees = tree_masks(n) if trees is None else trees
    alice = _masks(num_edges, n - 1 - j)
    bob = _masks(num_edges, j)
    yes = np.zeros((alice.shape[0], bob.shape[0]), dtype=bool)
    no = np.zeros_like(yes)
    for start in range(0, alice.shape[0], chunk):
        a = alice[start:start + chunk]
        union = a[:, None] | bob[None, :]
        valid = (a[:, None] & bob[None, :]) == 0
        pos = np.minimum(np.searchsorted(trees, union), trees.shape[0] - 1)
        tree = (trees[pos] == union) & valid
        yes[start:start + chunk] = tree
        no[start:start + chunk] = valid & ~tree
    return alice, bob, yes, no


def istree_split(n: int, j: int, trees: np.ndarray | None = None, chunk: int = 4096) -> IsTreeSplit:
    """Brute-force the exact state count for IsTree, n vertices, n - 1 edges, Bob holding j edges."""
    alice, bob, yes, no = istree_answers(n, j, trees, chunk)
    labels = component_labels(n, alice)
    forest = np.array([len(set(row)) for row in labels.tolist()]) == n - (n - 1 - j)
    keys = [tuple(row) if ok else ("cycle",) for row, ok in zip(labels.tolist(), forest.tolist())]
    key_ids: dict[tuple, int] = {}
    cls = np.array([key_ids.setdefault(k, len(key_ids)) for k in keys])
    num_classes = len(key_ids)
    yes_any = np.zeros((num_classes, bob.shape[0]), dtype=bool)
    no_any = np.zeros_like(yes_any)
    np.logical_or.at(yes_any, cls, yes)
    np.logical_or.at(no_any, cls, no)
    colouring_ok = not bool((yes_any & no_any).any())
    path_masks = {path_forest_mask(n, row) for row, ok in zip(labels.tolist(), forest.tolist()) if ok}
    preferred = np.isin(alice, np.array(sorted(path_masks), dtype=np.int64))
    clique = len(class_clique(yes, no, cls, num_classes, preferred))
    chromatic = None
    if clique < num_classes:
        full = full_class_clique_z3(yes, no, cls, num_classes)
        if full is not None:
            clique = len(full)
        elif alice.shape[0] <= CHROMATIC_LIMIT:
            chromatic = chromatic_number_z3(conflict_matrix(yes, no), upper=num_classes)
    return IsTreeSplit(n=n, j=j, prefixes=int(alice.shape[0]), suffixes=int(bob.shape[0]),
                       classes=num_classes, colouring_ok=colouring_ok, clique=clique,
                       chromatic=chromatic)


CHROMATIC_LIMIT = 64  # prefixes; above this the exact colouring search is not attempted


def conflict_matrix(yes: np.ndarray, no: np.ndarray) -> np.ndarray:
    """conflict[a, b]: some suffix valid for both prefixes gets YES from one and NO from the other."""
    y, nn = yes.astype(np.int32), no.astype(np.int32)
    return (y @ nn.T + nn @ y.T) > 0


def full_class_clique_z3(yes, no, cls, num_classes: int, max_pairs: int = 200_000) -> list[int] | None:
    """One prefix per class, pairwise conflicting, found by Z3 (SAT over "pick this prefix").

    Returns the verified clique, or None when Z3 proves none exists (or the instance is too big).
    """
    import z3

    conflict = conflict_matrix(yes, no)
    free_a, free_b = np.nonzero(np.triu(~conflict, 1) & (cls[:, None] != cls[None, :]))
    if free_a.size > max_pairs:
        return None
    pick = [z3.Bool(f"pick{i}") for i in range(yes.shape[0])]
    solver = z3.Solver()
    for k in range(num_classes):
        solver.add(z3.Or([pick[i] for i in np.flatnonzero(cls == k)]))
    for a, b in zip(free_a.tolist(), free_b.tolist()):
        solver.add(z3.Or(z3.Not(pick[a]), z3.Not(pick[b])))
    if solver.check() != z3.sat:
        return None
    model = solver.model()
    chosen = [i for i in range(len(pick)) if z3.is_true(model.eval(pick[i]))]
    chosen = [next(i for i in chosen if cls[i] == k) for k in range(num_classes)]
    sub = conflict[np.ix_(chosen, chosen)]
    assert (sub | np.eye(len(chosen), dtype=bool)).all(), "Z3 model is not a clique"
    return chosen


def chromatic_number_z3(conflict: np.ndarray, upper: int) -> int:
    """Least k such that the prefixes can be k-coloured with no conflict inside a colour (Z3)."""
    import z3

    size = conflict.shape[0]
    best = upper
    for k in range(upper - 1, 0, -1):
        solver = z3.Solver()
        colour = [z3.Int(f"c{i}") for i in range(size)]
        for i, var in enumerate(colour):
            solver.add(var >= 0, var < min(k, i + 1))  # symmetry breaking: vertex i uses colours <= i
        for a, b in zip(*np.nonzero(np.triu(conflict, 1))):
            solver.add(colour[int(a)] != colour[int(b)])
        if solver.check() != z3.sat:
            break
        best = k
    return best


def class_clique(yes: np.ndarray, no: np.ndarray, cls: np.ndarray, num_classes: int,
                 preferred: np.ndarray | None = None) -> list[int]:
    """Prefixes, at most one per class, that pairwise conflict (checked on the full rows).

    Greedy: visit classes from the largest down; in each, take the first member (``preferred``
    members first) that conflicts with every prefix chosen so far. The result is a verified clique,
    so its size is a lower bound on the number of states.
    """
    chosen: list[int] = []
    y_ch = np.zeros((0, yes.shape[1]), dtype=np.int32)
    n_ch = np.zeros_like(y_ch)
    sizes = np.bincount(cls, minlength=num_classes)
    first = np.zeros(cls.shape[0], dtype=bool) if preferred is None else preferred
    for k in np.argsort(-sizes, kind="stable"):
        members = np.flatnonzero(cls == k)
        members = np.concatenate([members[first[members]], members[~first[members]]])
        if chosen:
            ok = ((yes[members].astype(np.int32) @ n_ch.T + no[members].astype(np.int32) @ y_ch.T) > 0
                  ).all(axis=1)
            hits = np.flatnonzero(ok)
        else:
            hits = np.array([0])
        if hits.size:
            r = int(members[hits[0]])
            chosen.append(r)
            y_ch = np.vstack([y_ch, yes[r].astype(np.int32)])
            n_ch = np.vstack([n_ch, no[r].astype(np.int32)])
    return chosen


def path_forest_mask(n: int, labels) -> int:
    """Edge mask of the forest that joins each block of a partition by an increasing path."""
    index = {e: i for i, e in enumerate(edge_list(n))}
    blocks: dict[int, list[int]] = {}
    for v, lab in enumerate(labels, start=1):
        blocks.setdefault(int(lab), []).append(v)
    return sum(1 << index[(a, b)] for block in blocks.values() for a, b in zip(block, block[1:]))


def istree_all_splits(n: int) -> list[IsTreeSplit]:
    """:func:`istree_split` for j = 0..n-1, sharing the tree table."""
    trees = tree_masks(n)
    return [istree_split(n, j, trees) for j in range(n)]


__all__ = [
    "FAILED", "IsTreeSplit", "SEQUENCE_TASKS", "all_sequences", "answer_table", "ar_answer",
    "chromatic_number_z3", "class_clique", "component_labels", "conflict_matrix",
    "count_distinct_rows", "counting_answer", "edge_list", "full_class_clique_z3", "index_answer",
    "is_tree_edges", "istree_all_splits", "istree_answers", "istree_split", "sequence_rows_by_split",
    "streaming_machine_exists", "tree_masks",
]


# --------------------------------------------------------------------------- Z3 machine search
def streaming_machine_exists(words, answers, widths) -> bool:
    """Is there a deterministic streaming machine with ``widths[t]`` states after t symbols?

    The machine has a start state, a transition table per step t (state × symbol -> state; a
    position-dependent transition is allowed, as an RNN may read positions) and an output map on
    the final states; it must give ``answers[w]`` on every word w (all words have one length L and
    ``len(widths) == L + 1``). Encoded as SAT for Z3: one-hot state of every trie node, one-hot
    table entries, and "parent in q, table (t, q, a) = q'  =>  child in q'".
    """
    import z3

    words = [tuple(w) for w in words]
    length = len(words[0])
    if any(len(w) != length for w in words) or len(widths) != length + 1 or widths[0] != 1:
        raise ValueError("words must share one length L, widths has L+1 entries and widths[0] == 1")
    solver = z3.Solver()
    symbols = sorted({a for w in words for a in w}, key=repr)
    table = {}
    for t in range(length):
        for q in range(widths[t]):
            for a in symbols:
                cell = [z3.Bool(f"T{t}_{q}_{symbols.index(a)}_{r}") for r in range(widths[t + 1])]
                solver.add(z3.PbEq([(v, 1) for v in cell], 1))
                table[t, q, a] = cell
    state = {(): [z3.BoolVal(True)]}
    for w in words:
        for t in range(1, length + 1):
            node = w[:t]
            if node in state:
                continue
            bits = [z3.Bool(f"S{len(state)}_{r}") for r in range(widths[t])]
            solver.add(z3.PbEq([(v, 1) for v in bits], 1))
            parent = state[w[:t - 1]]
            for q, pq in enumerate(parent):
                for r, nxt in enumerate(table[t - 1, q, w[t - 1]]):
                    solver.add(z3.Implies(z3.And(pq, nxt), bits[r]))
            state[node] = bits
    values = sorted(set(answers), key=repr)
    out = [[z3.Bool(f"O{q}_{v}") for v in range(len(values))] for q in range(widths[length])]
    for cell in out:
        solver.add(z3.PbEq([(v, 1) for v in cell], 1))
    for w, ans in zip(words, answers):
        for q, sq in enumerate(state[w]):
            solver.add(z3.Implies(sq, out[q][values.index(ans)]))
    return solver.check() == z3.sat
