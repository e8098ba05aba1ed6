"""`instill` under accelerate's DeepSpeed on CPU processes (gloo), for tests/test_distributed.py.

accelerate 1.15 refuses DeepSpeed on CPU in two places: `PartialState.__init__` (accelerate/state.py) starts
DeepSpeed's process group only `if not cpu`, and `AcceleratorState.__init__` switches to `DistributedType.DEEPSPEED`
only in `elif os.environ.get("ACCELERATE_USE_DEEPSPEED") == "true" and not cpu`; a CPU run is `MULTI_CPU` (gloo) and
the plugin built from `accelerate launch`'s ACCELERATE_DEEPSPEED_* variables is dropped. DeepSpeed itself has a CPU
accelerator (`deepspeed.accelerator.get_accelerator()` is `cpu` without a GPU, communication backend gloo), and
`deepspeed.initialize` wraps the gloo process group PartialState already started. This entry point adds the branch
accelerate skips (what it does for a GPU: the DEEPSPEED type, the plugin selected with the run's precision) and then
runs instill's own CLI, so everything after it is accelerate's real DeepSpeed path: `deepspeed.initialize` with
the ZeRO stage of the launch config, the engine's backward / step at the accumulation boundary, and `save_state`.

    accelerate launch --config_file recipes/accelerate/zero2.yaml --num_processes 2 tests/cpu_deepspeed.py train R.yaml
"""

from __future__ import annotations

import os


def allow_deepspeed_on_cpu() -> None:
    from accelerate.state import AcceleratorState, PartialState
    from accelerate.utils import DistributedType

    original = AcceleratorState.__init__

    def init(self, mixed_precision=None, *args, deepspeed_plugin=None, **kwargs):
        original(self, mixed_precision, *args, deepspeed_plugin=deepspeed_plugin, **kwargs)
        wanted = os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true"
        if self.distributed_type == DistributedType.MULTI_CPU and wanted and deepspeed_plugin is not None:
            self.distributed_type = DistributedType.DEEPSPEED
            # as the GPU branch does: DeepSpeed's config carries the precision (bf16.enabled), autocast stays off
            precision = self._mixed_precision
            deepspeed_plugin.set_mixed_precision(precision)
            deepspeed_plugin.select(_from_accelerator_state=True)
            self.deepspeed_plugins = deepspeed_plugin
            if precision != "fp8":
                self._mixed_precision = "no"
            PartialState._shared_state["distributed_type"] = DistributedType.DEEPSPEED

    AcceleratorState.__init__ = init


if __name__ == "__main__":
    allow_deepspeed_on_cpu()
    from instill.cli import main

    main()
