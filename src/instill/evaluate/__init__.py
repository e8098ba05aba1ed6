"""Zero-shot evaluation: score a model on held-out tasks (rank classification of options, generation metrics)."""
