"""A book network's name as a record: parsing, round trip and the errors of a malformed name."""

from __future__ import annotations

import pytest

from onen.analysis import profiles
from onen.analysis.names import FAMILIES, BookName, family_of, variant_of


def test_every_book_network_name_round_trips_through_its_record() -> None:
    for name in profiles.book_networks("quick"):
        record = BookName.parse(name)
        assert str(record) == name
        assert record.family in FAMILIES
        # the variant keeps its own spaces: only the first one separates the family
        assert (family_of(name), variant_of(name)) == (name[:name.index(" ")], name[name.index(" ") + 1:])


def test_a_variant_with_spaces_stays_whole_and_a_sibling_keeps_the_family() -> None:
    record = BookName.parse("shallow SpecReg β=20 tracked lr=1e-02")
    assert record == BookName("shallow", "SpecReg β=20 tracked lr=1e-02")
    assert str(record.sibling("Vanilla")) == "shallow Vanilla"


@pytest.mark.parametrize("name, message", [("Vanilla", "<family> <variant>"), ("RNN Vanilla", "family"),
                                           ("MLP  ", "variant"), (3, "<family> <variant>")])
def test_a_malformed_name_fails_with_a_clear_error(name, message) -> None:
    with pytest.raises(ValueError, match=message):
        BookName.parse(name)
