"""Runs: a network's configuration (:mod:`~onen.runs.config`), its training loop (:mod:`~onen.runs.training`), the
cached train-and-evaluate step every chapter calls (:mod:`~onen.runs.experiments`), the search for the 1/n setting
(:mod:`~onen.runs.search`) and the estimator's calibration run (:mod:`~onen.runs.calibration_run`).

This layer imports only the core modules at the top of :mod:`onen`.
"""
