"""Answer one question about a video or an image, streaming the model's reasoning.

    video-r1 infer --model DIR --video clip.mp4 --question "What happens first?" \\
        --type "multiple choice" --options "A. a door opens" "B. a light turns on"
    video-r1 infer --model DIR --image photo.png --question "How many cups?" --type numerical
    video-r1 infer --model DIR --video clip.mp4 --question "What happens?"   # free-form

The prompt, frames, pixels and decoding are those of `video-r1 eval` (published evaluation
settings by default). Prints the tokens as they come, then the extracted answer.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from video_r1.data import PROBLEM_TYPES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from video_r1.evaluation.answering import add_model_arguments
    from video_r1.evaluation.settings import add_settings_arguments

    add_model_arguments(parser)
    media = parser.add_mutually_exclusive_group(required=True)
    media.add_argument("--video", help="video file to ask about")
    media.add_argument("--image", help="image file to ask about")
    parser.add_argument("--question", required=True, help="the question text")
    parser.add_argument(
        "--type",
        choices=PROBLEM_TYPES,
        dest="problem_type",
        help="problem type: decides the answer instruction of the prompt (default: "
        "'multiple choice' with --options, else 'free-form')",
    )
    parser.add_argument(
        "--options", nargs="+", default=(), help='multiple-choice options, e.g. "A. red" "B. blue"'
    )
    add_settings_arguments(parser)


def build_record(args: argparse.Namespace):
    """A Record for the question (validated like a dataset record: options, letters, file)."""
    from video_r1.data import RecordError, validate_record

    media = Path(args.video or args.image).resolve()
    if args.problem_type is None:  # what the question most likely is without a --type
        args.problem_type = "multiple choice" if args.options else "free-form"
    raw = {
        "problem_id": "infer",
        "problem": args.question,
        "data_type": "video" if args.video else "image",
        "problem_type": args.problem_type,
        "options": list(args.options),
        # any answer valid for the type: the solution is never shown to the model
        "solution": "<answer>A</answer>"
        if args.problem_type == "multiple choice"
        else "<answer>0</answer>",
        "path": media.name,
    }
    record, problems = validate_record(raw, "command line", 0, media.parent, index=0)
    if problems:
        raise RecordError(problems)
    return record


def run(args: argparse.Namespace) -> int:
    import torch
    from transformers import TextStreamer

    from video_r1.data import RecordError
    from video_r1.evaluation.answering import (
        build_generation_config,
        encode_batch,
        load_media,
        load_model_and_processor,
    )
    from video_r1.evaluation.settings import describe_settings, settings_from_args
    from video_r1.media import MediaError
    from video_r1.prompts import processor_factor
    from video_r1.rewards.parsing import extract_answer
    from video_r1.rollout import rows_inputs, without_checkpoint_defaults

    try:
        settings = settings_from_args(args)
        record = build_record(args)
    except (ValueError, RecordError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"settings:\n{describe_settings(settings)}", file=sys.stderr)
    print(f"  problem type: {record.problem_type}", file=sys.stderr)
    model, processor = load_model_and_processor(
        args.model, dtype=args.dtype, device=args.device, attn=args.attn
    )
    try:
        media = load_media(record, settings, processor_factor(processor))
    except MediaError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    encoded = encode_batch(
        model, processor, [record], [media], settings.wording, settings.frame_times_in_prompt
    )
    config = build_generation_config(model, processor, settings)
    streamer = TextStreamer(processor.tokenizer, skip_prompt=True, skip_special_tokens=True)
    torch.manual_seed(settings.seed)
    kwargs = rows_inputs(encoded, [0])
    with torch.no_grad(), without_checkpoint_defaults(model):
        sequences = model.generate(**kwargs, generation_config=config, streamer=streamer)
    completion = sequences[0, kwargs["input_ids"].shape[1] :]
    text = processor.tokenizer.decode(completion, skip_special_tokens=True)
    answer = extract_answer(text)
    print(f"\nanswer: {answer if answer else '(no <answer> tag in the output)'}")
    return 0
