"""Training: adapter methods (registry), turn-level loss masks, the SFT trainer, checkpoints, summary.

Entry point: ``expertkit.training.run.train`` (what `expert-cli train` calls).
"""
