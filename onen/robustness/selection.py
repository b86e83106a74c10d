"""Which corrupted test images a network is scored on: one selection record for MNIST-C and CIFAR-10-C.

A selection names a subset of the test split (the first ``test_subset`` images of its fixed permutation drawn with
seed 0, the attacks' subset; None: all 10000), the corruptions and severities, the seed of the corruptions' random
draws, and the batch size of the forward passes. Each corruption family subclasses it with its own catalogue of names
and its defaults (:class:`onen.robustness.mnist_c_eval.CorruptionConfig`,
:class:`onen.robustness.cifar_c.CifarCorruptionConfig`). One cache-key rule serves both: everything but
``batch_size``, which changes no result.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class CorruptionSelection:
    """The fields every corrupted-test-set selection shares, validated at construction against the subclass's
    ``CATALOGUE`` (the corruption names its module defines) and ``LEVELS`` (its severities). An empty
    ``corruptions`` means the whole catalogue."""

    test_subset: int | None = 1000
    severities: tuple[int, ...] = (3,)
    corruptions: tuple[str, ...] = ()
    seed: int = 0
    batch_size: int = 1000

    CATALOGUE: ClassVar[tuple[str, ...]] = ()
    LEVELS: ClassVar[tuple[int, ...]] = (1, 2, 3, 4, 5)

    def __post_init__(self) -> None:
        if isinstance(self.severities, (str, bytes)) or isinstance(self.corruptions, (str, bytes)):
            raise ValueError(f"severities and corruptions must be sequences, got {self.severities!r} and "
                             f"{self.corruptions!r}")
        object.__setattr__(self, "severities", tuple(self.severities))
        object.__setattr__(self, "corruptions", tuple(self.corruptions))
        self._check()

    def _check(self) -> None:
        """ValueError naming the first bad field."""
        value = self.test_subset
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"test_subset must be None or a positive integer, got {value!r}")
        chosen = self.severities
        if not chosen or any(isinstance(s, bool) or s not in self.LEVELS for s in chosen):
            raise ValueError(f"severities must be a non-empty list drawn from {self.LEVELS}, got {chosen!r}")
        if list(chosen) != sorted(set(chosen)):
            raise ValueError(f"severities must be ascending without repeats, got {chosen!r}")
        names = self.corruptions
        if not names or any(c not in self.CATALOGUE for c in names) or len(set(names)) != len(names):
            raise ValueError(f"corruptions must be distinct names from {self.CATALOGUE}, got {names!r}")
        for name, smallest in (("seed", 0), ("batch_size", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < smallest:
                raise ValueError(f"{name} must be a {'non-negative' if smallest == 0 else 'positive'} integer, "
                                 f"got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        """The selection's half of a cache key: every field but ``batch_size`` (it changes no result)."""
        d = dataclasses.asdict(self)
        d["severities"], d["corruptions"] = list(self.severities), list(self.corruptions)
        del d["batch_size"]
        return d
