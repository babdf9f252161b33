"""Every registered construction: its claimed size holds, and does not change with n."""

from __future__ import annotations

import pytest

from constructions.registry import ENTRIES, get


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_claimed_size_holds_for_every_n(entry):
    for n in entry.sizes:
        size = entry.build(n).size()
        for key, claimed in entry.claim.items():
            assert size[key] == claimed, f"{entry.name} at n = {n}: {key} is {size[key]}, claimed {claimed}"


def test_names_are_unique_and_lookup_fails_clearly():
    names = [e.name for e in ENTRIES]
    assert len(names) == len(set(names))
    with pytest.raises(ValueError, match="no construction named"):
        get("nope")
