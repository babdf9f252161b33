"""IsTree (Sec 4.2.2, Def A.2): is an undirected graph on vertices 1..n a tree?

Prompt format (Sec 4.2.2; the separator: docs/istree.md): ``<s>, u_1, ~, v_1, ..., u_m, ~, v_m, <sep>`` with
``u_i < v_i``; every edge is undirected, so an edge given as (5, 2) is written ``2 ~ 5``. The
separator marks where the chain of thought starts.

Reference chain of thought (Algorithm 1 of Lemma C.27 with its early NO at a cycle): a DFS from
vertex 1 that scans each vertex's incident edges in input order, skips the edge to its DFS parent,
descends into the first unvisited neighbour and emits the vertex it arrives at; when a vertex has
no edge left it emits its parent (backtracking). At the first scanned edge to an already visited
vertex that is not the parent it emits ``NO`` (a cycle). When the root has no edge left the tour is
complete and the answer is ``YES`` iff it has ``2n - 1`` vertices (Lemma C.29: with no cycle in the
component of 1 and 2n - 1 tour vertices, the DFS tree spans all n vertices and every other edge
would have been caught as a cycle, so m = n - 1 and G is a tree).
"""

from __future__ import annotations

import itertools
from math import comb, factorial

import networkx as nx
import numpy as np

from theory.tasks.base import Chunk, Domain, ListPart, Task
from theory.tokens import BOS, NO, SEP, TILDE, YES, Vocab

Edge = tuple[int, int]


# -- validation and format ------------------------------------------------------------------------
def check_n(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"IsTree needs n >= 2 vertices, got {n!r}")
    return int(n)


def check_edges(n: int, edges) -> list[Edge]:
    """Validate an edge list: vertices in 1..n, no self-loops, no repeated edges. Returns (min, max) pairs."""
    n = check_n(n)
    out: list[Edge] = []
    seen: set[Edge] = set()
    for i, edge in enumerate(edges):
        try:
            a, b = edge
        except (TypeError, ValueError):
            raise ValueError(f"edge {i + 1} is not a pair of vertices: {edge!r}") from None
        for v in (a, b):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise ValueError(f"edge {i + 1}: vertex {v!r} is not an integer")
            if not 1 <= v <= n:
                raise ValueError(f"edge {i + 1}: vertex {int(v)} is out of range 1..{n}")
        if a == b:
            raise ValueError(f"edge {i + 1}: self-loop at vertex {int(a)}")
        e = (int(min(a, b)), int(max(a, b)))
        if e in seen:
            raise ValueError(f"edge {i + 1}: edge {e[0]}-{e[1]} is repeated")
        seen.add(e)
        out.append(e)
    return out


def parse_graph(text: str, n: int) -> list[Edge]:
    """Parse ``"1-2,2-3,..."`` (spaces allowed; empty string = no edges) and validate it."""
    text = text.strip()
    if not text:
        return check_edges(n, [])
    edges = []
    for i, part in enumerate(text.split(",")):
        pieces = part.strip().split("-")
        if len(pieces) != 2 or not all(p.strip().isdigit() for p in pieces):
            raise ValueError(f"malformed edge {part.strip()!r} (item {i + 1}); write edges as u-v, e.g. 1-2,2-3")
        edges.append((int(pieces[0]), int(pieces[1])))
    return check_edges(n, edges)


def prompt_tokens(edges: list[Edge]) -> list:
    """``<s>, u_1, ~, v_1, ..., <sep>`` for already validated (min, max) edges."""
    toks: list = [BOS]
    for u, v in edges:
        toks += [u, TILDE, v]
    return toks + [SEP]


# -- reference ------------------------------------------------------------------------------------
def reference_trace(n: int, edges: list[Edge]) -> list:
    """The chain of thought after ``<sep>``: DFS tour vertices, then YES or NO (see module docstring)."""
    incident: list[list[int]] = [[] for _ in range(n + 1)]  # incident[v]: v's neighbours in input order
    for u, v in edges:
        if not (0 < u <= n and 0 < v <= n):
            raise ValueError(f"edge {u}-{v} has a vertex outside 1..{n}")
        incident[u].append(v)
        incident[v].append(u)
    parent = [-1] * (n + 1)  # -1: not visited; the root's parent is 0
    parent[1] = 0
    pointer = [0] * (n + 1)  # next incident edge to scan
    cur, tour = 1, [1]
    while True:
        adj, i = incident[cur], pointer[cur]
        if i < len(adj) and adj[i] == parent[cur]:
            i += 1  # skip the edge to the DFS parent
        if i < len(adj):
            u = adj[i]
            pointer[cur] = i + 1
            if parent[u] >= 0:
                return tour + [NO]
            parent[u] = cur
            tour.append(u)
            cur = u
        elif parent[cur] == 0:
            return tour + [YES if len(tour) == 2 * n - 1 else NO]
        else:
            cur = parent[cur]
            tour.append(cur)


def is_tree(n: int, edges: list[Edge]) -> bool:
    """Union-find decision: n - 1 edges and no cycle."""
    if len(edges) != n - 1:
        return False
    root = list(range(n + 1))

    def find(v: int) -> int:
        while root[v] != v:
            root[v] = root[root[v]]
            v = root[v]
        return v

    for u, v in edges:
        a, b = find(u), find(v)
        if a == b:
            return False
        root[a] = b
    return True


def max_cot_length(n: int) -> int:
    """Longest chain of thought: a full tour (2n - 1 vertices) plus the answer."""
    return 2 * n


def max_prompt_length(n: int) -> int:
    return 3 * comb(n, 2) + 2


# -- enumeration and sampling ---------------------------------------------------------------------
def all_pairs(n: int) -> np.ndarray:
    """The C(n,2) possible edges (u < v) as a (C(n,2), 2) array, lexicographic."""
    return np.array(list(itertools.combinations(range(1, n + 1), 2)), dtype=np.int64)


def count_graphs(n: int, m: int) -> int:
    return comb(comb(n, 2), m)


def enumerate_graphs(n: int, m: int, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Graphs ``start..stop-1`` (lexicographic order of edge sets) with m edges: an (G, m) array of pair indices.

    Each graph is found from its rank directly (the combinatorial number system), so chunk c of a
    large domain costs the same as chunk 0: nothing before ``start`` is enumerated.
    """
    total = count_graphs(n, m)
    stop = total if stop is None else min(stop, total)
    start = min(max(start, 0), stop)
    return unrank_combinations(comb(n, 2), m, np.arange(start, stop, dtype=np.int64))


def unrank_combinations(pool: int, m: int, ranks: np.ndarray) -> np.ndarray:
    """The m-subsets of ``range(pool)`` at the given lexicographic ranks (as ``itertools.combinations``
    lists them), one sorted row per rank. Position by position, every candidate element x is tried in
    increasing order: the subsets that continue with x number C(pool - 1 - x, m - 1 - i)."""
    ranks = np.asarray(ranks, dtype=np.int64).copy()
    out = np.zeros((len(ranks), m), dtype=np.int64)
    prev = np.full(len(ranks), -1, dtype=np.int64)
    for i in range(m):
        found = np.zeros(len(ranks), dtype=bool)
        for x in range(pool):
            count = comb(pool - 1 - x, m - 1 - i)
            open_ = ~found & (x > prev)
            take = open_ & (ranks < count)
            out[take, i] = x
            found |= take
            ranks[open_ & ~take] -= count
        prev = out[:, i]
    return out


def shuffle_orders(graphs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One uniformly random edge order per graph (row)."""
    return rng.permuted(graphs, axis=1) if graphs.size else graphs


def sample_graph(n: int, family: str, rng: np.random.Generator) -> list[Edge]:
    """One random graph, edges in random order.

    Families: ``uniform`` (n - 1 distinct random edges), ``hard`` (the Sec 4.2.2 two-hub family with a
    random bit string and a random k), ``binary`` and ``random`` (the generators of the authors' IsTree
    experiments, App. B), and ``tree`` (a uniform labelled tree, from a uniform Pruefer sequence).
    """
    if family == "tree":
        edges = _pruefer_tree(n, rng)
    elif family == "uniform":
        pairs = all_pairs(n)
        pick = rng.choice(len(pairs), size=min(n - 1, len(pairs)), replace=False)
        edges = [tuple(map(int, pairs[i])) for i in pick]
    elif family == "hard":
        if n < 4:
            raise ValueError("the hard family needs n >= 4")
        x = rng.integers(0, 2, size=n - 2)
        k = int(rng.integers(1, n - 2))
        edges = hard_instance(n, x, k)
    elif family == "binary":
        if n < 4:
            raise ValueError("the binary family needs n >= 4")
        perm = rng.permutation(n) + 1
        hubs = perm[:2]
        edges = [(int(v), int(hubs[rng.integers(0, 2)])) for v in perm[2:]]
        i = int(rng.integers(2, n - 1))  # i in [2, n-2], 0-based, as in the authors' generator
        edges.append((int(perm[i]), int(perm[i + 1])))
    elif family == "random":
        if rng.random() < 0.5:
            order = rng.permutation(n) + 1
            edges = [(int(order[i]), int(order[rng.integers(0, i)])) for i in range(1, n)]
        else:
            f = rng.integers(1, n + 1, size=n)
            edges = [(v, int(f[v - 1])) for v in range(1, n + 1)]
            edges.append((int(rng.integers(1, n + 1)), int(rng.integers(1, n + 1))))
    else:
        raise ValueError(f"unknown graph family {family!r} (uniform, hard, binary, random, tree)")
    simple = sorted({(min(e), max(e)) for e in edges if e[0] != e[1]})
    order = rng.permutation(len(simple))
    return [simple[i] for i in order]


def _pruefer_tree(n: int, rng: np.random.Generator) -> list[Edge]:
    """The labelled tree of a uniform Pruefer sequence (so a uniform labelled tree)."""
    seq = [int(v) for v in rng.integers(1, n + 1, size=max(n - 2, 0))]
    degree = [0] + [1] * n
    for v in seq:
        degree[v] += 1
    edges = []
    for v in seq:
        leaf = next(u for u in range(1, n + 1) if degree[u] == 1)
        edges.append((leaf, v))
        degree[leaf] -= 1
        degree[v] -= 1
    last = [u for u in range(1, n + 1) if degree[u] == 1]
    return edges + [(last[0], last[1])]


def hard_instance(n: int, x, k: int) -> list[Edge]:
    """Sec 4.2.2: vertex a in 1..n-2 joins hub ``x_a + n - 1``; plus the edge (k, k+1). Tree iff x_k != x_{k+1}."""
    if len(x) != n - 2 or not 1 <= k <= n - 3:
        raise ValueError("hard instance needs x in {0,1}^(n-2) and 1 <= k <= n-3")
    edges = [(a, int(x[a - 1]) + n - 1) for a in range(1, n - 1)]
    return edges + [(k, k + 1)]


FAMILIES = ("uniform", "hard", "binary", "random")


def _edge_array(instances) -> np.ndarray | None:
    """The instances as one (G, m, 2) int array, or None when their edge counts differ."""
    if len(instances) == 0:
        return np.zeros((0, 0, 2), dtype=np.int64)
    m = len(instances[0])
    if any(len(e) != m for e in instances):
        return None
    return np.array(instances, dtype=np.int64).reshape(len(instances), m, 2)


# -- the Task shape (theory.tasks.base) ---------------------------------------------------------------
CHUNK = 4096  # graphs per chunk; the seeded edge orders are drawn per chunk, so this fixes the domain


class IstreeTask(Task):
    """IsTree on n vertices. An instance is an edge list; the reference answer is ``networkx.is_tree``."""

    name = "istree"
    chunk_size = CHUNK
    extra_samples = 1000  # seeded graphs in other edge orders, and with other edge counts, per default run

    def __init__(self, n: int):
        self.n = check_n(n)

    def params(self) -> dict:
        return {"n": self.n}

    def vocab(self) -> Vocab:
        return Vocab(self.n)

    def answer_set(self) -> tuple:
        return (YES, NO)

    def prompt(self, instance) -> list:
        return prompt_tokens(instance)

    def solve(self, instance) -> str:
        g = nx.Graph()
        g.add_nodes_from(range(1, self.n + 1))
        g.add_edges_from(instance)
        return YES if nx.is_tree(g) else NO

    def describe_instance(self, instance) -> dict:
        return {"edges": [list(e) for e in instance]}

    # -- chunk-level views (the checker's hot path): the same ids and answers as the per-instance
    # -- prompt() and solve(), built with array operations and one reused networkx graph
    def prompt_ids(self, chunk: Chunk, vocab: Vocab) -> tuple[np.ndarray, np.ndarray]:
        edges = _edge_array(chunk.instances)
        if edges is None or (edges.size and (edges.min() < 1 or edges.max() > min(self.n, vocab.n))):
            return super().prompt_ids(chunk, vocab)  # ragged or out of range: the checked per-instance path
        rows, m = edges.shape[:2]
        ids = np.empty((rows, 3 * m + 2), dtype=np.int64)
        ids[:, 0] = vocab.id(BOS)
        ids[:, 1:-1:3] = edges[:, :, 0]  # number tokens have ids 1..n
        ids[:, 2:-1:3] = vocab.id(TILDE)
        ids[:, 3:-1:3] = edges[:, :, 1]
        ids[:, -1] = vocab.id(SEP)
        return ids, np.full(rows, 3 * m + 2, dtype=np.int64)

    def answer_ids(self, chunk: Chunk, vocab: Vocab) -> np.ndarray:
        """``networkx.is_tree`` of every graph, as YES/NO ids. One graph on vertices 1..n is reused:
        each instance's edges are added, the graph is tested, and the same edges removed again."""
        yes, no = vocab.id(YES), vocab.id(NO)
        g = nx.Graph()
        g.add_nodes_from(range(1, self.n + 1))
        out = np.empty(len(chunk), dtype=np.int64)
        for r in range(len(chunk)):
            edges = self.instance(chunk, r)
            g.add_edges_from(edges)
            if g.number_of_nodes() != self.n:
                raise ValueError(f"graph {r} of the chunk has a vertex outside 1..{self.n}")
            out[r] = yes if nx.is_tree(g) else no
            g.remove_edges_from(edges)
        if g.number_of_edges():  # every edge added was removed: no graph saw another's edges
            raise RuntimeError("the reused networkx graph kept edges between instances")
        return out

    def max_length(self) -> int:
        """Longest prompt (every edge) plus the longest Transformer chain of thought."""
        return max_prompt_length(self.n) + max_cot_length(self.n)

    def domain_size(self, edges: int, orders: str = "one") -> int:
        graphs = count_graphs(self.n, edges)
        return graphs * factorial(edges) if orders == "all" else graphs

    def domain(self, *, edges: int | None = None, orders: str = "one", samples: int | None = None,
               seed: int = 0) -> Domain:
        """Every graph with ``edges`` edges (default n - 1) in one seeded edge order or every order,
        or ``samples`` seeded random graphs from the families of :func:`sample_graph` in rotation."""
        n = self.n
        if samples is not None:
            part = ListPart(f"{samples} random graphs", samples, lambda a, b: self._samples(a, b, seed),
                            {"kind": "random", "families": list(FAMILIES), "seed": seed,
                             "description": f"{samples} random graphs on {n} vertices, families "
                                            f"{', '.join(FAMILIES)} in rotation, seed {seed}"})
            return Domain([part], CHUNK, task=self.name, n=n, kind="random", seed=seed)
        m = n - 1 if edges is None else edges
        if not 0 <= m <= comb(n, 2):
            raise ValueError(f"the number of edges must lie in 0..{comb(n, 2)} for n = {n}, got {m}")
        if orders not in ("one", "all"):
            raise ValueError(f"edge orders must be 'one' or 'all', got {orders!r}")
        how = "in every edge order" if orders == "all" else f"one edge order each drawn from seed {seed}"
        parts = [ListPart(f"every graph, {how}", self.domain_size(m, orders),
                          lambda a, b: self._graphs(m, orders, seed, a, b),
                          {"kind": "exhaustive", "edges": m, "orders": orders, "seed": seed,
                           "description": f"every simple graph on {n} labelled vertices with {m} edges, {how}"})]
        # Weights that depend on the edge order or the edge count pass one order of n - 1 edges; a
        # seeded sample of both, small beside the exhaustive part, catches them.
        k = self.extra_samples
        if orders == "one" and m >= 2:
            parts.append(ListPart(f"{k} seeded graphs with {m} edges in random orders", k,
                                  lambda a, b: self._random_graphs(a, b, [seed, 3], fixed_m=m),
                                  {"kind": "random", "edges": m, "seed": seed,
                                   "description": f"{k} uniform graphs with {m} edges, each in a uniform edge order"}))
        if comb(n, 2) > 0:
            parts.append(ListPart(f"{k} seeded graphs with other edge counts", k,
                                  lambda a, b: self._random_graphs(a, b, [seed, 4], avoid_m=m),
                                  {"kind": "random", "seed": seed,
                                   "description": f"{k} graphs with a uniform edge count in 0..{comb(n, 2)} other "
                                                  f"than {m}, a uniform edge set and order"}))
        return Domain(parts, CHUNK, task=self.name, n=n, kind="exhaustive", edges=m, orders=orders, seed=seed)

    def _random_graphs(self, start: int, stop: int, seed, fixed_m: int | None = None,
                       avoid_m: int | None = None) -> list[list[Edge]]:
        """Graphs ``start..stop-1`` of a seeded stream: each a uniform edge set of its size, in a uniform order."""
        pairs, total = all_pairs(self.n), comb(self.n, 2)
        sizes = [k for k in range(total + 1) if k != avoid_m] or [avoid_m]
        graphs = []
        for i in range(start, stop):
            rng = np.random.default_rng([*seed, i])
            m = fixed_m if fixed_m is not None else int(sizes[rng.integers(len(sizes))])
            pick = rng.choice(total, size=m, replace=False)
            graphs.append([(int(u), int(v)) for u, v in pairs[pick]])
        return graphs

    def _samples(self, start: int, stop: int, seed: int) -> list[list[Edge]]:
        graphs = []
        for i in range(start, stop):
            rng = np.random.default_rng([seed, i])
            graphs.append(sample_graph(self.n, FAMILIES[i % len(FAMILIES)], rng))
        return graphs

    def _graphs(self, m: int, orders: str, seed: int, start: int, stop: int) -> list[list[Edge]]:
        pairs = all_pairs(self.n)
        if orders == "all":
            perms = np.array(list(itertools.permutations(range(m))), dtype=np.int64).reshape(-1, m)
            k = len(perms)
            g = enumerate_graphs(self.n, m, start // k, (stop - 1) // k + 1)
            rows = np.take_along_axis(np.repeat(g, k, axis=0), np.tile(perms, (len(g), 1)), axis=1)
            rows = rows[start - (start // k) * k: stop - (start // k) * k]
        else:
            rows = enumerate_graphs(self.n, m, start, stop)
            rows = shuffle_orders(rows, np.random.default_rng([seed, start // CHUNK]))
        if not rows.size:
            return [[] for _ in range(stop - start)]
        flat = list(map(tuple, pairs[rows].reshape(-1, 2).tolist()))  # (u, v) tuples of Python ints
        return [flat[i: i + m] for i in range(0, len(flat), m)]
