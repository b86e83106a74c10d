"""``python -m onen``: compute and cache the networks a chapter needs, audit them, reproduce a committed one
(see :mod:`onen.commands.cli`)."""

from onen.commands.cli import main

main()
