"""The `video-r1` command. Each subcommand lives in the module of its stage.

A subcommand module provides ``add_arguments(parser)`` and ``run(args) -> int``; it imports
heavy libraries inside ``run`` so that ``video-r1 --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help). Order is the order of the data flow.
COMMANDS: dict[str, tuple[str, str]] = {
    "synth": ("video_r1.synth.cli", "generate the synthetic video/image reasoning benchmark"),
    "data": ("video_r1.data.cli", "check, summarise or convert a Video-R1-format dataset"),
    "frames": ("video_r1.media.cli", "sample a video's frames and write a contact sheet"),
    "tiny-model": ("video_r1.models.cli", "build a tiny random Qwen-VL model for tests and demos"),
    "sft": ("video_r1.recipes.sft", "supervised fine-tuning (reasoning cold start)"),
    "grpo": ("video_r1.recipes.grpo", "RL with GRPO or T-GRPO"),
    "eval": ("video_r1.evaluation.cli", "evaluate a model on video benchmarks"),
    "annotate": ("video_r1.evaluation.annotate", "chain-of-thought annotation with a teacher"),
    "infer": ("video_r1.evaluation.infer", "answer one question about a video or image"),
    "demo": (
        "video_r1.demo",
        "synthetic data -> tiny model -> SFT -> T-GRPO -> eval, with a report",
    ),
    "experiment": ("video_r1.experiments.cli", "run the project's measured experiments"),
}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser: lists the subcommands without importing their modules."""
    parser = argparse.ArgumentParser(
        prog="video-r1",
        description="Train and evaluate video reasoning models with GRPO and T-GRPO.",
        epilog="Run `video-r1 COMMAND --help` for a command's options.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def command_parser(name: str) -> tuple[argparse.ArgumentParser, object]:
    """The parser of one subcommand, importing only that subcommand's module."""
    module_name, help_text = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(
        prog=f"video-r1 {name}",
        description=(module.__doc__ or help_text).strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    module.add_arguments(parser)
    return parser, module


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand. A mistake ends in one `error: ...` line on stderr and a non-zero
    exit status; `--debug` (anywhere on the line) shows the Python traceback instead."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    if not argv or argv[0] not in COMMANDS:
        build_parser().parse_args(argv)  # prints help or the error, and exits
        return 2
    from video_r1.compat import ensure_torchvision_importable
    from video_r1.utils.logs import quiet_deepspeed_cpu_notice, set_debug_logs
    from video_r1.utils.malloc import keep_large_allocations

    set_debug_logs(debug)  # libraries' full logs (vLLM's) under --debug: video_r1.utils.logs
    quiet_deepspeed_cpu_notice()
    ensure_torchvision_importable()  # before any subcommand imports transformers
    keep_large_allocations()  # per-step pixel buffers reuse heap pages (utils/malloc.py)
    parser, module = command_parser(argv[0])
    args = parser.parse_args(argv[1:])
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt as interrupt:  # Ctrl-C, or SIGTERM during training
        if debug:
            raise
        # on a line of its own: the interrupt can cut a line short (a terminal's "^C", a
        # library's progress bar), and the error line must not be glued to its end
        print(f"\nerror: {interrupt or 'interrupted'}", file=sys.stderr, flush=True)
        return 130
    except Exception as error:
        if debug:
            raise
        print(f"error: {error_line(error)}", file=sys.stderr, flush=True)
        return 1


def error_line(error: BaseException) -> str:
    """The one-line message of an error: the project's own errors say what to do already;
    anything else is named by its type, with the hint to rerun with --debug.

    Example:
        >>> error_line(ValueError("a\nb"))
        'ValueError: a (rerun with --debug for the traceback)'
    """
    lines = str(error).strip().splitlines() or [""]
    first = lines[0]
    if first.endswith(":") and len(lines) > 1:  # "3 problem(s) in dataset:" + the first one
        first = f"{first} {lines[1]}" + (" ..." if len(lines) > 2 else "")
    if type(error).__name__ in _ACTIONABLE or isinstance(
        error, FileNotFoundError | FileExistsError
    ):
        return first
    return f"{type(error).__name__}: {first} (rerun with --debug for the traceback)"


# Errors whose message names the file/key and what to do (checked by name: no imports here).
_ACTIONABLE = {
    "ConfigError", "CheckpointError", "BadSampleError", "RecordError", "MediaError",
    "BackendMissing", "RewardSpecError", "ModelPathError", "EvalAborted", "DemoSettingsChanged",
    "VLLMMissing", "VLLMMemoryError",
}  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
