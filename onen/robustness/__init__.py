"""Robustness beyond the evaluation's FGSM and PGD: the attack audit (:mod:`~onen.robustness.audit`), MNIST-C's
corruptions (:mod:`~onen.robustness.mnist_c`) and their evaluation (:mod:`~onen.robustness.mnist_c_eval`), and
CIFAR-10-C (:mod:`~onen.robustness.cifar_c`).

This layer imports the core modules and :mod:`onen.runs`, never the analysis or the commands.
"""
