"""instill: FLAN-style instruction tuning, end to end."""

__version__ = "0.1.0"
