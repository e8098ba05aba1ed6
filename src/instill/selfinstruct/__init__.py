"""Self-Instruct (Wang et al. 2022) and Alpaca's variant: grow an instruction set from seed tasks with an LLM
backend, with every filter of the paper, a fast exact novelty filter and an append-only, resumable store."""

from instill.selfinstruct.config import SelfInstructConfig, load_config
from instill.selfinstruct.export import export
from instill.selfinstruct.loop import generate
from instill.selfinstruct.novelty import NoveltyIndex
from instill.selfinstruct.seeds import SeedTask, load_seeds

__all__ = ["SelfInstructConfig", "load_config", "export", "generate", "NoveltyIndex", "SeedTask", "load_seeds"]
