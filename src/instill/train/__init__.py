"""Training: data preparation, the loss, the loop, checkpoints."""
