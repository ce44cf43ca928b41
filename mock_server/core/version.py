"""The package version (the lowest layer, so every layer may say it)."""

__version__ = "0.1.0"
