"""textgan: train and evaluate GANs for text, with image-GAN baselines on the same trainer core."""

__version__ = "0.1.0"
