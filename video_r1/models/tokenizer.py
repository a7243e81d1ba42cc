"""A small byte-level BPE tokenizer with the Qwen special tokens, trained on a built-in corpus.

Same normaliser, pre-tokeniser and special tokens as the real Qwen2 tokenizer, so prompts
split the same way; only the learned vocabulary is small (~2k), which keeps tiny models fast.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

# Special tokens in the order (and so the relative ids) of the real Qwen2/2.5-VL tokenizer.
QWEN_SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
# Added but not special (they decode with skip_special_tokens=True, as in the real tokenizers).
QWEN_ADDED_TOKENS: tuple[str, ...] = (
    "<tool_call>",
    "</tool_call>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
)
QWEN3_ADDED_TOKENS: tuple[str, ...] = ("<tool_response>", "</tool_response>", "<think>", "</think>")

_COMMON_WORDS = """
the a an of to and in is it that this what which who where when how why many much more most
less few one two three four five six seven eight nine ten zero first second third last next
before after then while during between under over above below near far inside outside across
through into onto from with without by for on at as be are was were has have had do does did
can could will would should may might must not no yes all any each every some other same
different object objects thing things person people man woman child dog cat car ball box cube
sphere cylinder cone pyramid circle square triangle star ring line dot shape shapes colour color
size big small large tiny long short tall wide narrow fast slow moving moves moved move appear
appears appeared disappear count number total time frame frames video image picture scene clip
question answer option options choose correct because so therefore however let me think wait
hmm oh i see let's break it down now check again verify seems looks like means since only also
very just there here they them their its his her we you your our us see saw look watch show
shows shown happen happens happened event events order sequence begin beginning end ending
middle start stop turn turns rotate rotates spin clockwise counterclockwise grow grows shrink
shrinks change changes same direction toward towards away along around top bottom side corner
center centre screen background foreground position place located
"""
_BENCHMARK_WORDS = """
red green blue yellow orange purple pink brown black white gray grey cyan magenta
left right up down forward backward first second last
circle square triangle star diamond hexagon rectangle
"""
_EXAMPLES = (
    "<think>\nLet me think. The red circle moves left, then the blue square moves up. "
    "Wait, let's break it down: first the circle, then the square. Hmm, oh, I see.\n</think>\n"
    "<answer>B</answer>",
    "<think>I count 3 objects: 1, 2, 3.</think>\n<answer>3</answer>",
    "<think>The green triangle moves down first.</think>\n<answer>A</answer>",
    "Options:\nA. left\nB. right\nC. up\nD. down",
    "Which direction does the yellow star move first?",
    "How many shapes appear in the video? 0 1 2 3 4 5 6 7 8 9 10 12 42 3.14 100 1,000",
)


def build_corpus(prompt_texts: Sequence[str]) -> list[str]:
    """The training texts: the caller's prompt texts (the Video-R1 templates:
    `video_r1.prompts.tokenizer_texts()`, passed in so that models need not import prompts),
    then digits, letters, common and benchmark words, tags."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    texts = list(prompt_texts)
    texts += ["system\n", "user\n", "assistant\n", "Picture 1: Video 1: "]
    texts += [" ".join(letters), " ".join(letters.upper()), " ".join("0123456789")]
    texts += [f"{c}. " for c in letters.upper()] + [f"<{t:.1f} seconds>" for t in range(0, 60)]
    words = (_COMMON_WORDS + _BENCHMARK_WORDS).split()
    texts += [" ".join(words), " ".join(w.capitalize() for w in words)]
    texts += [f"{w}.\n" for w in words] + [f"The {w} is" for w in words]
    texts += ["<think>", "</think>", "<answer>", "</answer>", "<think>\n", "\n</think>\n\n"]
    return texts + list(_EXAMPLES) * 3


def train_tokenizer(
    *,
    prompt_texts: Sequence[str],
    vocab_size: int = 2000,
    added: tuple[str, ...] = QWEN_ADDED_TOKENS,
    chat_template: str,
) -> Any:
    """A transformers Qwen2Tokenizer whose BPE was learned on `build_corpus(prompt_texts)`."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import AddedToken
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX, Qwen2Tokenizer

    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(build_corpus(prompt_texts), trainer=trainer)
    model = json.loads(bpe.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    vocab = dict(model["vocab"])
    for token in QWEN_SPECIAL_TOKENS + added:  # ids right after the learned ones, as in Qwen
        vocab[token] = len(vocab)
    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        unk_token=None,
        eos_token="<|im_end|>",  # as the Instruct checkpoints: a turn ends generation
        pad_token="<|endoftext|>",
    )
    tokenizer.add_special_tokens(
        {
            "additional_special_tokens": [
                AddedToken(t, normalized=False) for t in QWEN_SPECIAL_TOKENS[1:]
            ]
        }
    )
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in added])
    tokenizer.chat_template = chat_template
    tokenizer.model_max_length = 32768
    return tokenizer
