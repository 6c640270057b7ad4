"""Keras lowerings, one module per op family; each registers itself with ``register_lowering``."""
