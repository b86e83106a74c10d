"""onen: the 1/n spectral regularizer and the tools to test what it does for robustness.

Reference implementation of Nassar, Sokol, Chung, Harris & Park, "On 1/n neural representation and robustness"
(NeurIPS 2020).
"""

from onen.attacks import accuracy, fgsm, gaussian_noise, pgd, robustness_curve
from onen.data import Split, load, load_fashion_mnist, load_mnist
from onen.features import capture
from onen.jacobian import jacobian_norm_sq
from onen.models import CNN, MLP, Classifier, build_model
from onen.regularizers import SpectralRegularizer, select_layers, spectral_penalty
from onen.spectrum import covariance, eigenspectrum, fit_power_law, layer_covariances, layer_spectra
from onen.runs.config import EvalConfig, TrainConfig
from onen.runs.training import History, evaluate_accuracy, resolve_device, train
from onen.whiten import Whiten
from onen.shaping import SpectrumShaping
from onen.calibration import Estimator

__version__ = "0.1.0"

__all__ = [
    "CNN", "MLP", "Classifier", "Estimator", "EvalConfig", "History", "Split", "SpectralRegularizer", "SpectrumShaping",
    "TrainConfig", "Whiten", "accuracy",
    "build_model", "capture", "covariance", "eigenspectrum", "evaluate_accuracy", "fgsm", "fit_power_law",
    "gaussian_noise", "jacobian_norm_sq", "layer_covariances", "layer_spectra", "load", "load_fashion_mnist",
    "load_mnist", "pgd", "resolve_device", "robustness_curve", "select_layers", "spectral_penalty", "train",
]
