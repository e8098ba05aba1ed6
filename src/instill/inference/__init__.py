"""The model-facing core below every door (`instill generate`, `chat`, `eval`, the local backend, `instill serve`).

`sampling.SamplingParams` says how to sample, `chat_model.ChatModel` is a model with the chat format it was trained
with, and `engine.generate_rows` is the one generation call. Nothing is imported here: the command line reads the
sampling defaults without loading torch.
"""
