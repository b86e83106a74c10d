"""What turns cached results into the book's claims: the profiles' settings (:mod:`~onen.analysis.profiles`), the
statistics (:mod:`~onen.analysis.stats`), the claims and figures of each chapter (:mod:`~onen.analysis.report`,
:mod:`~onen.analysis.deep`, :mod:`~onen.analysis.control`), tables, plotting helpers and sanity checks.

This layer imports the core, :mod:`onen.runs` and :mod:`onen.robustness`, never the commands.
"""
