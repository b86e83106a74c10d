"""The name of a book network of sections 4.1-4.3: its architecture family and its variant.

A book network is shown as "<family> <variant>" ("shallow SpecReg β=5 tracked", "MLP Vanilla", "CNN Jacobian"; see
:func:`onen.analysis.profiles.book_networks`). :class:`BookName` is that pair as a record, so that no caller splits
the display string itself, and a name of an unknown family fails at once with a clear error.
"""

from __future__ import annotations

from dataclasses import dataclass

FAMILIES: tuple[str, ...] = ("shallow", "MLP", "CNN")  # section 4.1's net, the 3x1000 MLP and the CNN


@dataclass(frozen=True)
class BookName:
    """A book network's ``family`` (one of :data:`FAMILIES`) and ``variant`` ("Vanilla", "SpecReg β=1", ...)."""

    family: str
    variant: str

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"a book network's family must be one of {list(FAMILIES)}, got {self.family!r}")
        if not isinstance(self.variant, str) or not self.variant.strip():
            raise ValueError(f"a book network's variant must be a non-empty string, got {self.variant!r}")

    @classmethod
    def parse(cls, name: str) -> BookName:
        """The record of the display name ``name`` ("<family> <variant>")."""
        if not isinstance(name, str) or " " not in name:
            raise ValueError(f"a book network's name is '<family> <variant>', got {name!r}")
        family, variant = name.split(" ", 1)
        return cls(family, variant)

    def sibling(self, variant: str) -> BookName:
        """The network ``variant`` of the same family."""
        return BookName(self.family, variant)

    def __str__(self) -> str:
        return f"{self.family} {self.variant}"


def family_of(name: str) -> str:
    """The family of the book network ``name``: "shallow", "MLP" or "CNN"."""
    return BookName.parse(name).family


def variant_of(name: str) -> str:
    """The variant of the book network ``name`` ("Vanilla", "SpecReg β=1", ...)."""
    return BookName.parse(name).variant
