"""`instill` under accelerate's FSDP on CPU processes (gloo), for tests/test_distributed.py.

accelerate 1.15 keeps FSDP for GPU-like devices: `AcceleratorState.__init__` (accelerate/state.py) sets
`distributed_type = FSDP` only inside `elif self.distributed_type in [MULTI_GPU, MULTI_MLU, ..., MULTI_NEURON]`,
and a CPU run is `MULTI_CPU` (`PartialState._prepare_backend`: gloo), so `ACCELERATE_USE_FSDP=true` and the
plugin built from `accelerate launch`'s FSDP_* variables are silently dropped and the run is DDP. torch's FSDP2
(`fully_shard`) itself runs on CPU tensors with gloo. This entry point adds that one missing case, a CPU run
that was given an FSDP plugin is an FSDP run, and then runs instill's own CLI, so everything after it is
accelerate's real FSDP2 path: `fully_shard` through the plugin's wrap policy, DTensor gradients and clipping,
sharded `save_state` / `load_state` through torch.distributed.checkpoint, and the gathered `get_state_dict`.

    accelerate launch --config_file recipes/accelerate/fsdp.yaml --num_processes 2 tests/cpu_fsdp.py train R.yaml
"""

from __future__ import annotations


def allow_fsdp_on_cpu() -> None:
    from accelerate.state import AcceleratorState, PartialState
    from accelerate.utils import DistributedType

    original = AcceleratorState.__init__

    def init(self, *args, fsdp_plugin=None, **kwargs):
        original(self, *args, fsdp_plugin=fsdp_plugin, **kwargs)
        if self.distributed_type == DistributedType.MULTI_CPU and fsdp_plugin is not None:
            self.distributed_type = DistributedType.FSDP
            self.fsdp_plugin = fsdp_plugin
            # as the GPU branch does: a later AcceleratorState() copies PartialState's type over its own
            PartialState._shared_state["distributed_type"] = DistributedType.FSDP

    AcceleratorState.__init__ = init


if __name__ == "__main__":
    allow_fsdp_on_cpu()
    from instill.cli import main

    main()
