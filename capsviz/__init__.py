"""capsviz: a trained Capsule Network (Sabour, Frosst & Hinton 2017) and the tools to look inside it."""

__version__ = "0.1.0"
