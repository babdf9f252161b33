"""Decision Turing machines: file format, reference interpreter, library, record traces.

This is the "problem" layer for Theorems 5.4 and 5.8 of the paper (Thms 5.4 and 5.8): the machines
the RAG and hybrid RNNs must simulate, and the reference token sequence they must produce.

File format (JSON, written by hand; docs/turing.md has a worked example)::

    {"name": "parity", "alphabet": ["0", "1"], "blank": "_",
     "states": ["even", "odd", "acc", "rej"], "start": "even", "accept": "acc", "reject": "rej",
     "delta": [["even", "0", "even", "0", "R"], ...]}

Each ``delta`` row is ``[state, read, new_state, write, move]`` with ``move`` ``"L"`` or ``"R"``.
An optional ``"description"`` string says in words which language the machine decides.

Rules (checked on load; a violation is a ``ValueError`` with one line naming the field):

* Symbols and state names are non-empty strings without whitespace. ``alphabet`` (the input
  symbols) is non-empty and has no repeats; ``blank`` is not an input symbol. Work symbols -- those
  read or written in ``delta`` but absent from the alphabet and not the blank -- are allowed. The
  tape alphabet is ``alphabet + [blank] + work symbols`` (work symbols in order of first use).
* ``states`` has no repeats and contains ``start``, ``accept`` and ``reject``; these three are
  pairwise distinct, so every run takes at least one step.
* ``accept`` and ``reject`` are halting: a ``delta`` row leaving either is an error. Two rows with
  the same ``(state, read)`` are an error (the machine is deterministic).
* **A missing transition means the machine rejects.** If no row matches ``(state, read)`` for a
  non-halting state, the machine takes the implicit step ``[state, read, reject, read, "R"]``:
  it rewrites the symbol it read, moves right and halts in ``reject``. So every run ends with a
  step into ``accept`` or ``reject``, and the completed table is total, as Thm 5.4's δ is.

Tape and head: cells are indexed by all integers; the input ``x_1 .. x_n`` occupies cells
``1 .. n`` and every other cell holds the blank. The head starts on cell 1 (on a blank if the input
is empty). Moving left of cell 1 is allowed: the tape is two-way infinite.

Step limit: :func:`run` stops with :class:`StepLimitExceeded` once a machine has taken
``max_steps`` steps (default :data:`DEFAULT_MAX_STEPS` = 10_000) without halting.

Record trace (Thm 5.4 phase 2 = Thm 5.8's CoT). Step ``t`` (``t = 1 .. T``)
contributes the five tokens ``POINTER[t], TAPE[t+1, POINTER[t]], POINTER[t], State[t+1],
Direction[t+1]``: the head cell before the step, the symbol written there, the head cell again,
the new state and the move. Token spelling:

* a cell ``c`` is the decimal number token ``str(c + offset)``. ``offset`` is an integer fixed in
  advance for the whole domain (the weights must know it); every recorded cell must come out as a
  positive integer. Before step ``t`` the head has moved ``t - 1`` times, so ``POINTER[t] >= 2 - t``
  and ``offset = T_max - 1`` works for every run of at most ``T_max`` steps. :func:`required_offset`
  gives the smallest offset that works for a given set of inputs. With ``offset = 0`` the tokens
  are the cell indices themselves (cell 1 = the first input symbol);
* a symbol ``s`` is ``"sym:" + s`` (the blank too), a state ``q`` is ``"state:" + q``, and a move
  is ``"move:L"`` or ``"move:R"``. The prefixes keep the three kinds apart from each other and from
  the number tokens even when a machine uses symbols such as ``"1"`` or a state named ``"L"``.

Lemma C.31: the last substring ``i, v, i`` of the trace up to step ``t`` is the record of the
latest write to cell ``i``, so ``v`` is that cell's current content; a cell without a record still
holds its initial content. :func:`latest_cell_value` implements the lookup.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import NamedTuple

DEFAULT_MAX_STEPS = 10_000

MOVES = {"L": -1, "R": 1}
SYM_PREFIX, STATE_PREFIX, MOVE_PREFIX = "sym:", "state:", "move:"
RECORD_LENGTH = 5  # tokens per simulated step in the record trace

_FIELDS = ("name", "alphabet", "blank", "states", "start", "accept", "reject", "delta")
_OPTIONAL_FIELDS = ("description",)


class StepLimitExceeded(RuntimeError):
    """The machine took ``max_steps`` steps without reaching ``accept`` or ``reject``."""


class Transition(NamedTuple):
    """One row of ``delta``: in ``state`` reading ``read``, write ``write``, move, enter ``new_state``."""

    state: str
    read: str
    new_state: str
    write: str
    move: str  # "L" or "R"


def _check_name(value: object, where: str, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where}: {what} must be a string, got {value!r}")
    if value == "":
        raise ValueError(f"{where}: {what} must be non-empty")
    if any(ch.isspace() for ch in value):
        raise ValueError(f"{where}: {what} {value!r} contains whitespace")
    return value


def _check_list(value: object, where: str) -> list:
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{where}: must be a list, got {type(value).__name__}")
    return list(value)


@dataclass(frozen=True)
class Machine:
    """A deterministic decision TM. Construct it directly or with :meth:`from_dict`/:func:`load_machine`;
    the rules of the module docstring are checked either way."""

    name: str
    alphabet: tuple[str, ...]
    blank: str
    states: tuple[str, ...]
    start: str
    accept: str
    reject: str
    delta: tuple[Transition, ...]
    description: str = ""
    # derived
    tape_alphabet: tuple[str, ...] = field(init=False, repr=False, compare=False)
    table: dict[tuple[str, str], Transition] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_name(self.name, "name", "name")
        if not isinstance(self.description, str):
            raise ValueError(f"description: must be a string, got {self.description!r}")
        alphabet = tuple(_check_list(self.alphabet, "alphabet"))
        if not alphabet:
            raise ValueError("alphabet: must contain at least one input symbol")
        for symbol in alphabet:
            _check_name(symbol, "alphabet", "symbol")
        _first_repeat(alphabet, "alphabet", "symbol")
        blank = _check_name(self.blank, "blank", "symbol")
        if blank in alphabet:
            raise ValueError(f"blank: {blank!r} is also an input symbol in alphabet")
        states = tuple(_check_list(self.states, "states"))
        for state in states:
            _check_name(state, "states", "state")
        _first_repeat(states, "states", "state")
        for key in ("start", "accept", "reject"):
            value = _check_name(getattr(self, key), key, "state")
            if value not in states:
                raise ValueError(f"{key}: unknown state {value!r} (not in states)")
        if len({self.start, self.accept, self.reject}) != 3:
            raise ValueError("start/accept/reject: must be three different states")

        rows = _check_list(self.delta, "delta")
        tape = list(alphabet) + [blank]
        table: dict[tuple[str, str], Transition] = {}
        checked = []
        for k, row in enumerate(rows):
            where = f"delta[{k}]"
            row = _check_list(row, where)
            if len(row) != 5:
                raise ValueError(f"{where}: must have 5 entries [state, read, new_state, write, move], got {len(row)}")
            state, read, new_state, write, move = row
            for value, what in ((state, "state"), (new_state, "state")):
                if _check_name(value, where, what) not in states:
                    raise ValueError(f"{where}: unknown state {value!r}")
            _check_name(read, where, "symbol")
            _check_name(write, where, "symbol")
            if move not in MOVES:
                raise ValueError(f"{where}: move must be 'L' or 'R', got {move!r}")
            if state in (self.accept, self.reject):
                raise ValueError(f"{where}: transition out of halting state {state!r}")
            if (state, read) in table:
                first = checked.index(table[(state, read)])
                raise ValueError(f"{where}: duplicate transition for ({state!r}, {read!r}), first given in delta[{first}]")
            transition = Transition(state, read, new_state, write, move)
            table[(state, read)] = transition
            checked.append(transition)
            for symbol in (read, write):
                if symbol not in tape:
                    tape.append(symbol)
        object.__setattr__(self, "alphabet", alphabet)
        object.__setattr__(self, "states", states)
        object.__setattr__(self, "delta", tuple(checked))
        object.__setattr__(self, "tape_alphabet", tuple(tape))
        object.__setattr__(self, "table", table)

    # -- file format --------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: object) -> Machine:
        if not isinstance(data, dict):
            raise ValueError(f"machine: expected a JSON object, got {type(data).__name__}")
        for key in _FIELDS:
            if key not in data:
                raise ValueError(f"missing field {key!r}")
        for key in data:
            if key not in _FIELDS and key not in _OPTIONAL_FIELDS:
                raise ValueError(f"unknown field {key!r}")
        return cls(**{key: data[key] for key in _FIELDS + _OPTIONAL_FIELDS if key in data})

    def to_dict(self) -> dict:
        data = {key: getattr(self, key) for key in _FIELDS}
        data["alphabet"], data["states"] = list(self.alphabet), list(self.states)
        data["delta"] = [list(row) for row in self.delta]
        if self.description:
            data["description"] = self.description
        return data

    # -- semantics ----------------------------------------------------------------------------
    def sha256(self) -> str:
        """A hash of the whole machine (name, alphabet, states, every transition): certificates name it."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def transition(self, state: str, read: str) -> Transition:
        """The row used in ``state`` reading ``read``, completing a missing one by the reject rule."""
        if state in (self.accept, self.reject):
            raise ValueError(f"state {state!r} is halting and has no transitions")
        row = self.table.get((state, read))
        return row if row is not None else Transition(state, read, self.reject, read, "R")

    def parse_input(self, word: str | Sequence[str]) -> tuple[str, ...]:
        """The input as a tuple of symbols.

        A sequence is taken symbol by symbol. A string is split at whitespace if it has any;
        otherwise each character is a symbol, which needs every input symbol to be one character.
        """
        if isinstance(word, str):
            if any(ch.isspace() for ch in word):
                symbols = tuple(word.split())
            elif all(len(s) == 1 for s in self.alphabet):
                symbols = tuple(word)
            else:
                raise ValueError(f"input: machine {self.name!r} has multi-character symbols; "
                                 "pass a list of symbols or a space-separated string")
        else:
            symbols = tuple(word)
        for k, symbol in enumerate(symbols):
            if symbol not in self.alphabet:
                raise ValueError(f"input[{k}] (cell {k + 1}): symbol {symbol!r} is not in the alphabet "
                                 f"{list(self.alphabet)}")
        return symbols


def _first_repeat(values: Sequence[str], where: str, what: str) -> None:
    seen = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{where}: {what} {value!r} appears twice")
        seen.add(value)


# -- loading ----------------------------------------------------------------------------------
def _library_dir():
    return resources.files("theory") / "machines"


def list_machines() -> list[str]:
    """Names of the machines shipped in ``theory/machines/`` (sorted)."""
    return sorted(entry.name[:-5] for entry in _library_dir().iterdir() if entry.name.endswith(".json"))


def load_machine(name_or_path: str | Path) -> Machine:
    """A library machine by name (``"palindrome"``) or a machine file by path.

    Errors in a file are a one-line ``ValueError`` starting with the file name.
    """
    text = str(name_or_path)
    path = Path(text)
    if isinstance(name_or_path, Path) or text.endswith(".json") or path.is_file():
        if not path.is_file():
            raise ValueError(f"{text}: no such machine file")
        source, label = path.read_text(encoding="utf-8"), path.name
    else:
        entry = _library_dir() / f"{text}.json"
        if not entry.is_file():
            raise ValueError(f"unknown machine {text!r}; library machines: {', '.join(list_machines())}")
        source, label = entry.read_text(encoding="utf-8"), f"{text}.json"
    return loads_machine(source, label)


def loads_machine(source: str, label: str = "machine") -> Machine:
    """Parse machine JSON text; ``label`` prefixes error messages."""
    try:
        data = json.loads(source)
    except json.JSONDecodeError as err:
        raise ValueError(f"{label}: invalid JSON at line {err.lineno} column {err.colno}: {err.msg}") from None
    try:
        return Machine.from_dict(data)
    except ValueError as err:
        raise ValueError(f"{label}: {err}") from None


# -- interpreter ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Step:
    """Step ``t`` (1-based): in ``state`` with the head on cell ``head``, read ``read``, wrote
    ``written``, moved ``move`` and entered ``new_state``. ``implicit`` marks the reject step of a
    missing transition."""

    t: int
    state: str
    head: int
    read: str
    written: str
    move: str
    new_state: str
    implicit: bool = False


class _Tape:
    """Two-way infinite tape: a Python list that grows at either end, plus the list index of cell 0."""

    def __init__(self, symbols: Sequence[str], blank: str) -> None:
        self.blank = blank
        self.cells = [blank] + list(symbols) + [blank]
        self.zero = 0  # list index of cell 0

    def read(self, cell: int) -> str:
        k = cell + self.zero
        if k < 0 or k >= len(self.cells):
            return self.blank
        return self.cells[k]

    def write(self, cell: int, symbol: str) -> None:
        k = cell + self.zero
        if k < 0:
            grow = max(-k, len(self.cells))
            self.cells[:0] = [self.blank] * grow
            self.zero += grow
            k += grow
        elif k >= len(self.cells):
            self.cells.extend([self.blank] * max(k + 1 - len(self.cells), len(self.cells)))
        self.cells[k] = symbol

    def contents(self) -> dict[int, str]:
        """Non-blank cells as ``{cell: symbol}``."""
        return {k - self.zero: s for k, s in enumerate(self.cells) if s != self.blank}


@dataclass(frozen=True)
class Configuration:
    """The machine before step ``t`` (``t = steps + 1`` for the halted configuration)."""

    t: int
    state: str
    head: int
    tape: dict[int, str]  # non-blank cells
    blank: str

    def read(self, cell: int) -> str:
        return self.tape.get(cell, self.blank)


@dataclass(frozen=True)
class Result:
    machine: Machine
    input: tuple[str, ...]
    verdict: str  # "accept" or "reject"
    history: tuple[Step, ...]
    tape: dict[int, str]  # non-blank cells after halting
    head: int  # head cell after halting

    @property
    def accepted(self) -> bool:
        return self.verdict == "accept"

    @property
    def steps(self) -> int:
        return len(self.history)


def _execute(machine: Machine, symbols: tuple[str, ...], max_steps: int) -> Iterator[tuple[Step | None, _Tape, str, int]]:
    """Yield ``(None, tape, state, head)`` first, then ``(step, tape, state, head)`` after every step."""
    if not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"max_steps must be a positive integer, got {max_steps!r}")
    tape = _Tape(symbols, machine.blank)
    table, halting = machine.table, (machine.accept, machine.reject)
    state, head, t = machine.start, 1, 0
    yield None, tape, state, head
    while state not in halting:
        if t == max_steps:
            shown = " ".join(symbols) if symbols else "(empty)"
            raise StepLimitExceeded(f"machine {machine.name!r} did not halt within {max_steps} steps "
                                    f"on input {shown}")
        t += 1
        read = tape.read(head)
        row = table.get((state, read))
        implicit = row is None
        if implicit:
            row = Transition(state, read, machine.reject, read, "R")
        tape.write(head, row.write)
        step = Step(t, state, head, read, row.write, row.move, row.new_state, implicit)
        head += MOVES[row.move]
        state = row.new_state
        yield step, tape, state, head


def run(machine: Machine, word: str | Sequence[str], *, max_steps: int = DEFAULT_MAX_STEPS) -> Result:
    """Run ``machine`` on ``word`` to a halt; raise :class:`StepLimitExceeded` after ``max_steps``."""
    symbols = machine.parse_input(word)
    history = []
    for step, tape, state, head in _execute(machine, symbols, max_steps):
        if step is not None:
            history.append(step)
    verdict = "accept" if state == machine.accept else "reject"
    return Result(machine, symbols, verdict, tuple(history), tape.contents(), head)


def configurations(machine: Machine, word: str | Sequence[str], *,
                   max_steps: int = DEFAULT_MAX_STEPS) -> Iterator[Configuration]:
    """The configurations before steps ``1, 2, ..., T`` and the halted one (``t = T + 1``).

    Each carries a copy of the tape, so this is for inspection, not speed.
    """
    symbols = machine.parse_input(word)
    t = 1
    for _, tape, state, head in _execute(machine, symbols, max_steps):
        yield Configuration(t, state, head, tape.contents(), machine.blank)
        t += 1


def accepts(machine: Machine, word: str | Sequence[str], *, max_steps: int = DEFAULT_MAX_STEPS) -> bool:
    return run(machine, word, max_steps=max_steps).accepted


# -- record trace (Thm 5.4 phase 2, Thm 5.8) --------------------------------------------------
def cell_token(cell: int, offset: int = 0) -> str:
    """The number token of tape cell ``cell``: ``str(cell + offset)``, which must be positive."""
    value = cell + offset
    if value < 1:
        raise ValueError(f"cell {cell} with offset {offset} gives token {value}; cell tokens must be "
                         f"positive, so use offset >= {1 - cell}")
    return str(value)


def symbol_token(symbol: str) -> str:
    return SYM_PREFIX + symbol


def state_token(state: str) -> str:
    return STATE_PREFIX + state


def move_token(move: str) -> str:
    return MOVE_PREFIX + move


def trace_vocabulary(machine: Machine) -> tuple[str, ...]:
    """Every non-number token a record trace of ``machine`` can contain (tape symbols, states,
    moves), in a fixed order; suitable as ``Vocab(extra=...)``."""
    return (tuple(symbol_token(s) for s in machine.tape_alphabet)
            + tuple(state_token(q) for q in machine.states)
            + tuple(move_token(m) for m in MOVES))


def records(result: Result, *, offset: int = 0) -> list[str]:
    """The record trace of a finished run (see :func:`record_trace`)."""
    tokens: list[str] = []
    for step in result.history:
        pointer = cell_token(step.head, offset)
        tokens += [pointer, symbol_token(step.written), pointer, state_token(step.new_state),
                   move_token(step.move)]
    return tokens


def record_trace(machine: Machine, word: str | Sequence[str], *, offset: int = 0,
                 max_steps: int = DEFAULT_MAX_STEPS) -> list[str]:
    """The phase-2 CoT of Thm 5.4 (= the CoT of Thm 5.8) as token strings, ``5 * T`` of them.

    For ``t = 1 .. T``: ``POINTER[t], TAPE[t+1, POINTER[t]], POINTER[t], State[t+1], Direction[t+1]``
    spelled ``str(head + offset), "sym:<written>", str(head + offset), "state:<new>", "move:L|R"``.
    Raises ``ValueError`` if some recorded cell would not be a positive number token.
    """
    return records(run(machine, word, max_steps=max_steps), offset=offset)


def required_offset(machine: Machine, words: Iterable[str | Sequence[str]], *,
                    max_steps: int = DEFAULT_MAX_STEPS) -> int:
    """The smallest ``offset >= 0`` for which every record trace of ``words`` has positive cell tokens."""
    lowest = 1
    for word in words:
        for step in run(machine, word, max_steps=max_steps).history:
            lowest = min(lowest, step.head)
    return 1 - lowest


def latest_cell_value(trace: Sequence[str], cell: int, *, offset: int = 0) -> str | None:
    """Lemma C.31: the symbol in the last substring ``i, v, i`` of ``trace`` with ``i`` the token of
    ``cell``, i.e. the latest value written to ``cell``; ``None`` if the cell has no record (it still
    holds its initial content: its input symbol or the blank)."""
    token = str(cell + offset)
    for k in range(len(trace) - 3, -1, -1):
        if trace[k] == token and trace[k + 2] == token:
            value = trace[k + 1]
            if not value.startswith(SYM_PREFIX):
                raise ValueError(f"trace[{k + 1}] = {value!r} is not a symbol token; not a record trace")
            return value[len(SYM_PREFIX):]
    return None
