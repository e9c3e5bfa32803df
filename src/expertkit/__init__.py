"""expertkit: build, test, package, sign and install small PEFT "experts" on one base model."""

__version__ = "0.1.0"
