"""Generation under DeepSpeed ZeRO-3: gather the full weights once per call, not once per token.

Why: under ZeRO-3 each module's forward all-gathers its partitioned parameters (a pre-forward
hook) and frees them again (a post-forward hook). A generation call of 768 new tokens runs the
model 768 times, so it gathers the whole model 768 times, and every process has to keep
stepping until all are done (`synced_gpus`), because each step is a collective. Trainers that
hit this (TRL's `unwrap_model_for_generation`, DeepSpeed-Chat's hybrid engine, DeepSpeed's own
`deepspeed.runtime.zero.unwrap_model_for_generation`) gather the weights once for the whole
call, take the per-module hooks out of the way, and put them back afterwards, which
re-partitions the weights before the training forwards.

Cost: for the duration, every process holds the whole model in its training dtype on top of
its shards, optimizer states and the KV cache: bf16 Qwen2.5-VL-7B (8.3e9 parameters x 2 bytes)
is about 15 GiB per GPU (3B: about 7 GiB). Where that does not fit,
`rl.gather_for_generation=false` keeps the per-token path.

Two differences from those implementations: the hooks come back even when generation raises,
and the root module's start-of-forward hook is taken away too. That hook resets DeepSpeed's
parameter-fetch trace and, while the trace is being (re)recorded, compares it across processes
(a collective) on every forward; processes that generate different numbers of tokens (no
`synced_gpus`) would then wait on each other forever.

Two more things stand aside for the call, because they cost time on every forward and have no
purpose while the weights are whole and nothing is differentiated (measured on the tiny model,
two CPU processes, 64 new tokens: they made the gathered generation call 0.41 s instead of
0.25 s):
- DeepSpeed's `zero.Init` replaces `torch.nn.functional.linear` for the whole process with an
  autograd Function that keeps weight ids instead of weights for the backward (so partitioned
  weights can be freed); it stays replaced after the model is built ("This will persist unless
  manually reset"). Within the call the plain `linear` is back.
- The engine's own start- and end-of-forward hooks walk every module of the model on every
  forward (to mark ZeRO-3 parameter dicts as "in forward").
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def parameter_offload(engine: Any) -> Any | None:
    """The holder of the ZeRO-3 module hooks (DeepSpeedZeRoOffload), or None if `engine` is not
    a ZeRO-3 DeepSpeed engine: a training engine keeps it as `optimizer.parameter_offload`, an
    engine made without an optimizer (the reference model) as `optimizer` itself."""
    optimizer = getattr(engine, "optimizer", None)
    offload = getattr(optimizer, "parameter_offload", optimizer)
    return offload if hasattr(offload, "forward_hooks") else None


def _remove_hooks(offload: Any, params: list) -> Any | None:
    """Take the ZeRO-3 hooks off; return the start-of-forward hook function (to put back)."""
    for param in params:  # a param still marked in use by a module could not be freed on exit
        param.ds_active_sub_modules.clear()
    for handle in [*offload.forward_hooks, *offload.backward_hooks]:
        handle.remove()
    offload.forward_hooks, offload.backward_hooks = [], []
    start_handle = getattr(offload, "fwd_pre_hook", None)
    if start_handle is None:
        return None
    start_hook = offload.module._forward_pre_hooks.get(start_handle.id)
    start_handle.remove()
    return start_hook


def _restore_hooks(offload: Any, start_hook: Any | None) -> None:
    """Register the ZeRO-3 module hooks again (DeepSpeed >= 0.16.4 renamed the method)."""
    register = getattr(offload, "_register_deepspeed_module", None)
    if register is None:
        register = offload._register_hooks_recursively
    register(offload.module)
    if start_hook is not None:  # first, as DeepSpeed registers it: it resets the fetch trace
        offload.fwd_pre_hook = offload.module.register_forward_pre_hook(start_hook, prepend=True)


@contextmanager
def gathered_weights(engine: Any, enabled: bool = True) -> Iterator[bool]:
    """Within: every parameter of the ZeRO-3 `engine` is whole on this process and forwards of
    its module run without ZeRO-3 hooks, so `generate` needs no `synced_gpus` and processes may
    run different numbers of forwards. On exit the hooks are back and the weights partitioned
    again (ready for the training forwards). Yields whether it gathered: False (and does
    nothing) when not enabled or `engine` is not a ZeRO-3 engine (DDP, ZeRO-2, one process).

    Every process must enter and leave together (gathering and re-partitioning are collective).
    Nothing inside may change the weights or build a graph that a later backward needs.
    """
    offload = parameter_offload(engine) if enabled else None
    if offload is None:
        yield False
        return
    import deepspeed

    params = list(offload.module.parameters())
    with deepspeed.zero.GatheredParameters(params), _plain_forward(engine):
        start_hook = _remove_hooks(offload, params)
        try:
            yield True
        finally:
            _restore_hooks(offload, start_hook)


@contextmanager
def _plain_forward(engine: Any) -> Iterator[None]:
    """Within: `torch.nn.functional.linear` is torch's own and the engine's forward hooks are
    off (see the module docstring); both are back on exit, also when the body raises."""
    import torch
    from deepspeed.runtime.zero.linear import zero3_linear_wrap
    from deepspeed.runtime.zero.partition_parameters import (
        InsertPostInitMethodToModuleSubClasses as Init,
    )

    functional = torch.nn.functional
    patched = functional.linear is zero3_linear_wrap and hasattr(Init, "linear_bk")
    if patched:
        functional.linear = Init.linear_bk
    had_hooks = getattr(engine, "module_forward_pre_hook", None) is not None
    # with fp16 `auto_cast` the start hook casts the inputs to half: then it has to stay
    auto_cast = getattr(engine, "fp16_auto_cast", lambda: False)()
    had_hooks = had_hooks and not auto_cast
    if had_hooks:  # as DeepSpeed itself does when it compiles (engine._set_deepcompile_active)
        engine.module_forward_pre_hook.remove()
        engine.module_forward_post_hook.remove()
        engine.module_forward_pre_hook = engine.module_forward_post_hook = None
    try:
        yield
    finally:
        if patched:
            functional.linear = zero3_linear_wrap
        if had_hooks:
            engine.module_forward_pre_hook = engine._create_module_forward_pre_hook()
            engine.module_forward_post_hook = engine._create_module_forward_post_hook()
