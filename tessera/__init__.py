"""Tessera: a real-time loyalty and rewards decision engine."""

__version__ = "0.1.0"
