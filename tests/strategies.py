"""Shared Hypothesis strategies: retrieval instances and R_p numbers (graphs and TM inputs come later).

Import as ``from tests.strategies import ...`` (tests/ is a package, so pytest puts the repository
root on sys.path).
"""

from __future__ import annotations

from hypothesis import strategies as st

from theory.precision import FLOAT_P_MAX, P_MAX, max_value


def sizes(min_n: int = 2, max_n: int = 256) -> st.SearchStrategy[int]:
    return st.integers(min_n, max_n)


@st.composite
def index_instances(draw, min_n: int = 2, max_n: int = 256):
    """(n, x, i) with x in [n]^n and i in [n]; small alphabets are drawn as often as the full one."""
    n = draw(sizes(min_n, max_n))
    top = min(draw(st.sampled_from([2, n])), n)
    x = draw(st.lists(st.integers(1, top), min_size=n, max_size=n))
    return n, x, draw(st.integers(1, n))


@st.composite
def ar_instances(draw, min_n: int = 2, max_n: int = 256):
    """(n, x, q) with q one of x_1..x_{n-1}, so the instance is valid."""
    n = draw(sizes(min_n, max_n))
    top = min(draw(st.sampled_from([2, 3, n])), n)
    x = draw(st.lists(st.integers(1, top), min_size=n, max_size=n))
    return n, x, x[draw(st.integers(0, n - 2))]


@st.composite
def cgram_instances(draw, min_n: int = 3, max_n: int = 256, max_c: int = 5):
    """(n, c, x, q) with q the (c-1)-prefix of one of the c-grams of x."""
    n = draw(sizes(min_n, max_n))
    c = draw(st.integers(2, min(max_c, n)))
    top = min(draw(st.sampled_from([2, 3, n])), n)
    x = draw(st.lists(st.integers(1, top), min_size=n, max_size=n))
    j = draw(st.integers(0, n - c))
    return n, c, x, x[j:j + c - 1]


@st.composite
def counting_instances(draw, min_n: int = 2, max_n: int = 256):
    """(n, x, q, t): 0 <= len(x) <= n, thresholds often near the true count."""
    n = draw(sizes(min_n, max_n))
    m = draw(st.sampled_from([n, draw(st.integers(0, n))]))
    top = min(draw(st.sampled_from([1, 2, n])), n)
    x = draw(st.lists(st.integers(1, top), min_size=m, max_size=m))
    q = draw(st.sampled_from([1, draw(st.integers(1, n))]))
    count = sum(1 for v in x if v == q)
    t = draw(st.one_of(st.integers(0, n), st.integers(max(count - 1, 0), min(count + 1, n))))
    return n, x, q, t


def precisions(max_p: int = P_MAX) -> st.SearchStrategy[int]:
    """Odd p in 3..max_p."""
    return st.integers(1, (max_p - 1) // 2).map(lambda h: 2 * h + 1)


@st.composite
def rp_numbers(draw, p: int | None = None):
    """(p, x) with x an element of R_p as a float: k 2^-q, |k| <= 2^(2q) - 1 (p <= FLOAT_P_MAX)."""
    p = draw(precisions(FLOAT_P_MAX)) if p is None else p
    q = (p - 1) // 2
    k = draw(st.integers(-(2 ** (2 * q) - 1), 2 ** (2 * q) - 1))
    x = k / 2.0**q
    assert abs(x) <= max_value(p)
    return p, x


# -- graphs, retrieval instances of every task, TM inputs, reals around R_p (appended for verify.smt) ----
@st.composite
def family_graphs(draw, min_n: int = 4, max_n: int = 16, families=None):
    """(n, family, edges): a graph of one of theory.tasks.istree.FAMILIES, drawn by the task's own
    generator from a Hypothesis-chosen seed (uniform, two-hub hard, binary, random)."""
    import numpy as np

    from theory.tasks.istree import FAMILIES, check_edges, sample_graph

    n = draw(sizes(max(min_n, 4), max_n))
    family = draw(st.sampled_from(list(families or FAMILIES)))
    seed = draw(st.integers(0, 2**32 - 1))
    edges = sample_graph(n, family, np.random.default_rng(seed))
    return n, family, check_edges(n, edges)


@st.composite
def trees(draw, min_n: int = 2, max_n: int = 16):
    """(n, edges) of a labelled tree built without networkx: vertex order[i] attaches to an earlier
    vertex; edges in a drawn order. Shrinks towards small paths rooted at 1."""
    n = draw(sizes(min_n, max_n))
    order = draw(st.permutations(list(range(1, n + 1))))
    edges = [(order[i], order[draw(st.integers(0, i - 1))]) for i in range(1, n)]
    edges = [(min(e), max(e)) for e in draw(st.permutations(edges))]
    return n, edges


@st.composite
def simple_graphs(draw, min_n: int = 2, max_n: int = 10, max_edges: int | None = None):
    """(n, edges): any simple graph (no loops, no repeats) on 1..n, edges in a drawn order."""
    n = draw(sizes(min_n, max_n))
    pairs = [(a, b) for a in range(1, n + 1) for b in range(a + 1, n + 1)]
    top = len(pairs) if max_edges is None else min(max_edges, len(pairs))
    edges = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=top))
    return n, edges


@st.composite
def cycle_plus_path_graphs(draw, min_n: int = 4, max_n: int = 16):
    """(n, edges) with n - 1 edges that is NOT a tree: a cycle on the first c vertices of a drawn
    labelling with a path hanging off it, and the last vertex isolated (disconnected and cyclic)."""
    n = draw(sizes(max(min_n, 4), max_n))
    label = draw(st.permutations(list(range(1, n + 1))))
    c = draw(st.integers(3, n - 1))
    cyc = [(label[i], label[(i + 1) % c]) for i in range(c)]
    path = [(label[i], label[i + 1]) for i in range(c - 1, n - 2)]  # hangs off the cycle
    edges = [(min(e), max(e)) for e in cyc + path]
    return n, draw(st.permutations(edges))


@st.composite
def retrieval_instances(draw, max_n: int = 32):
    """(task, instance) for every Thm 4.6 task: index (n, x, i), ar (n, x, q), cgram (n, c, x, q),
    counting (n, x, q, t)."""
    task = draw(st.sampled_from(["index", "ar", "cgram", "counting"]))
    strategy = {"index": index_instances(max_n=max_n), "ar": ar_instances(max_n=max_n),
                "cgram": cgram_instances(max_n=max_n), "counting": counting_instances(max_n=max_n)}[task]
    return task, draw(strategy)


@st.composite
def tm_inputs(draw, max_len: int = 8, machines=None):
    """(machine name, word): a library machine (theory/machines) and a word over its input alphabet."""
    from theory.turing import list_machines, load_machine

    name = draw(st.sampled_from(list(machines or list_machines())))
    machine = load_machine(name)
    word = draw(st.lists(st.sampled_from(list(machine.alphabet)), max_size=max_len))
    return name, word


@st.composite
def reals_near_rp(draw, p: int | None = None):
    """(p, x): x a float anywhere from twice below to twice above the range of R_p, often a grid point
    or a rounding midpoint (exercises ROUND's ties and saturation); p <= FLOAT_P_MAX."""
    p = draw(precisions(FLOAT_P_MAX)) if p is None else p
    q = (p - 1) // 2
    top = max_value(p)
    k = draw(st.integers(-(2 ** (2 * q + 1)), 2 ** (2 * q + 1)))
    kind = draw(st.sampled_from(["grid", "midpoint", "any"]))
    if kind == "grid":
        return p, k / 2.0**q
    if kind == "midpoint":
        return p, (k + 0.5) / 2.0**q
    return p, draw(st.floats(-2 * top, 2 * top, allow_nan=False))
