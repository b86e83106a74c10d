"""onen: the 1/n spectral regularizer and the tools to test what it does for robustness.

Reference implementation of Nassar, Sokol, Chung, Harris & Park, "On 1/n neural representation and robustness"
(NeurIPS 2020).
"""

from .attacks import accuracy, fgsm, gaussian_noise, pgd, robustness_curve
from .data import Split, load, load_fashion_mnist, load_mnist
from .features import capture
from .jacobian import jacobian_norm_sq
from .models import CNN, MLP, Classifier, build_model
from .regularizers import SpectralRegularizer, select_layers, spectral_penalty
from .spectrum import covariance, eigenspectrum, fit_power_law, layer_covariances, layer_spectra
from .config import EvalConfig, TrainConfig
from .training import History, evaluate_accuracy, resolve_device, train
from .whiten import Whiten
from .shaping import SpectrumShaping
from .calibration import Estimator

__version__ = "0.1.0"

__all__ = [
    "CNN", "MLP", "Classifier", "Estimator", "EvalConfig", "History", "Split", "SpectralRegularizer", "SpectrumShaping",
    "TrainConfig", "Whiten", "accuracy",
    "build_model", "capture", "covariance", "eigenspectrum", "evaluate_accuracy", "fgsm", "fit_power_law",
    "gaussian_noise", "jacobian_norm_sq", "layer_covariances", "layer_spectra", "load", "load_fashion_mnist",
    "load_mnist", "pgd", "resolve_device", "robustness_curve", "select_layers", "spectral_penalty", "train",
]
