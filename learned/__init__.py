"""Learned simulators in torch: models register by name.

    import learned
    learned.available()                # ['gns', 'meshgraphnets', ...]
    model = learned.create("gns", dim=2, latent=128)
"""
from learned.registry import available, create, get, register  # noqa: F401
