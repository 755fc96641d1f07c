"""What a launch over several processes needs beyond the loop: work done on the main process
and shared with the others, downloads made once per machine, the batch size probed, and
accelerate's quirks (one global state per process, a CPU launcher that starts one process when
asked for several). The output folders are locked by the command frame (`eval_cli.frame`), on
the launch's first process.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import broadcast_object_list, find_executable_batch_size
from PIL import Image

from ...metric.errors import ToolkitError

Result = TypeVar("Result")


def accelerator_for(mixed_precision: str, cpu: bool) -> Accelerator:
    """An Accelerator for this launch. accelerate keeps one global state per process; a second
    launch in the same process (another precision, say) starts from a fresh state, keeping the
    process group that a launcher set up."""
    if AcceleratorState._shared_state:
        AcceleratorState._reset_state()
    return Accelerator(
        mixed_precision=mixed_precision,
        cpu=cpu or (_launched_processes() > 1 and not torch.cuda.is_available()),
    )


def on_main(accelerator: Accelerator, work: Callable[[], Result]) -> Result:
    """Run ``work`` on the main process only (it alone reads the output directory, which other
    machines may not share) and hand its result, or its ToolkitError, to every process: all go
    on, or all stop, together."""
    outcome: list[Any] = [None]
    if accelerator.is_main_process:
        try:
            outcome = [work()]
        except ToolkitError as error:
            outcome = [error]
    (result,) = broadcast_object_list(outcome)
    if isinstance(result, ToolkitError):
        raise result
    return result


def loaded_in_step(accelerator: Accelerator, load: Callable[[], Result]) -> Result:
    """``load`` on each machine's first process (it downloads), then on the others (they read
    the cache). Unlike ``local_main_process_first``, a failure there keeps the processes in
    step: every process meets the one barrier, then raises its own error."""
    first, failure = accelerator.is_local_main_process, None
    if first:
        try:
            loaded = load()
        except ToolkitError as error:
            failure = error
    accelerator.wait_for_everyone()
    if failure is not None:
        raise failure
    return loaded if first else load()


def warn_about_the_setup(accelerator: Accelerator, mixed_precision: str) -> None:
    """Settings that run but not as the user likely expects."""
    if not accelerator.is_main_process:
        return
    if accelerator.device.type == "cpu" and mixed_precision != "no":
        supported = {
            "bf16": torch.ops.mkldnn._is_mkldnn_bf16_supported,
            "fp16": torch.ops.mkldnn._is_mkldnn_fp16_supported,
        }[mixed_precision]()
        if not supported:
            print(
                f"warning: this CPU has no native {mixed_precision} support; "
                f"--mixed-precision {mixed_precision} will be emulated and slow (try 'no')",
                file=sys.stderr,
            )
    if _cpu_launch_collapsed_to_one_process(accelerator):
        print(
            "warning: the launcher asked for several processes (MASTER_ADDR is set), but one "
            "runs: `accelerate launch --cpu --num_processes N` starts a single process; for N "
            "CPU processes use `torchrun --nproc_per_node N -m imagenet_multilabel run ...`",
            file=sys.stderr,
        )


def auto_batch_size(
    accelerator: Accelerator,
    forward: Callable[[torch.Tensor], torch.Tensor],
    preprocess: Callable[[Image.Image], torch.Tensor],
) -> int:
    """The largest batch that survives a forward pass, backing off on out-of-memory; the
    minimum over processes, since gathering needs equal batches."""
    sample = preprocess(Image.new("RGB", (256, 256)))

    @find_executable_batch_size(
        starting_batch_size=512 if accelerator.device.type == "cuda" else 64
    )
    def probe(batch_size: int) -> int:
        with torch.inference_mode():
            forward(sample.unsqueeze(0).expand(batch_size, *sample.shape).to(accelerator.device))
        return batch_size

    return int(accelerator.gather(torch.tensor([probe()], device=accelerator.device)).min())


def _cpu_launch_collapsed_to_one_process(accelerator: Accelerator) -> bool:
    """accelerate's simple CPU launcher sets MASTER_ADDR for N > 1 processes but starts one,
    with no WORLD_SIZE (torchrun and accelerate's multi-process launchers set it)."""
    return (
        accelerator.num_processes == 1
        and os.environ.get("ACCELERATE_USE_CPU", "").lower() == "true"
        and "MASTER_ADDR" in os.environ
        and "WORLD_SIZE" not in os.environ
    )


def _launched_processes() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def device_name(accelerator: Accelerator) -> str:
    if accelerator.device.type == "cuda":
        return torch.cuda.get_device_name(accelerator.device)
    return accelerator.device.type
