"""ganflow: reproducible dataset-to-model runs of conditional GANs."""
__version__ = "0.1.0"
