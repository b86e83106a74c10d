"""The command lines: ``python -m onen`` (:mod:`~onen.commands.cli`, with ``reproduce`` from
:mod:`~onen.commands.reproduce`) and ``python -m onen.commands.build`` (executes and builds the book). The top layer:
nothing below imports it.
"""
