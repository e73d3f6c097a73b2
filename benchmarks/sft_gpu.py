"""SFT throughput of ``care train sft`` itself on a GPU, on a randomly initialised model with
Llama-3.1-8B's architecture (no weights are downloaded) at 8k tokens per example.

Every method runs through :func:`care.train.sft.train_sft` (the code behind
``care train sft``): trl's SFTTrainer with care's precision (full fine-tuning on float32
master weights with bf16 autocast; LoRA on a bf16 base), LoRA from its ``peft_config``,
activation checkpointing as the ``lora-24gb`` / ``paper`` presets set it, and care's loss on
the answer tokens. Only the weights are made up: the model is built in memory in the dtype
and on the device that care's loader would give it (QLoRA, which must be quantized while
loading, goes through care's loader from a random checkpoint written once to ``--work``).
No model is saved at the end.

Prints one JSON line per method: seconds per optimizer step (median after ``--warmup``
steps), tokens/s, peak GPU memory, trainable parameters, the precision care chose, and the
projected hours of one epoch of ``--examples`` examples of ``--example-tokens`` tokens. An
out-of-memory method prints its error and the next one runs.

    python benchmarks/sft_gpu.py                          # on a GPU: lora, qlora, full
    python benchmarks/sft_gpu.py --methods lora --length 4096
    python benchmarks/sft_gpu.py --base MODEL_DIR         # a real model directory instead
    python benchmarks/sft_gpu.py --tiny                   # a tiny model on the CPU (CI)

Options: ``--methods`` (comma-separated: lora, qlora, full), ``--length`` (tokens per
example; 8192, ``--tiny``: 256), ``--steps`` (measured steps, 3), ``--warmup`` (1),
``--layers`` (fewer decoder layers than the architecture's, for a quicker check),
``--examples`` (7600) and ``--example-tokens`` (6000) for the projection, ``--work`` (where
the QLoRA checkpoint and the run folders go; default a temporary folder), ``--json FILE``
(also write the rows as a JSON list).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

LLAMA_31_8B = {
    "vocab_size": 128256,
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "max_position_embeddings": 131072,
    "rms_norm_eps": 1e-5,
    "rope_theta": 500000.0,
    "rope_scaling": {
        "rope_type": "llama3",
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192,
    },
    "tie_word_embeddings": False,
}
TINY = {
    "vocab_size": 512,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 2048,
}
SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]
TEMPLATE = (
    "{% for m in messages %}<s> {{ m['content'] }} </s> {% endfor %}"
    "{% if add_generation_prompt %}<s>{% endif %}"
)
ANSWER_TOKENS = 64  # CARE's answer: the option line and a short rationale


def model_config(args: argparse.Namespace) -> Any:
    import transformers

    hyper = dict(TINY if args.tiny else LLAMA_31_8B)
    if args.layers:
        hyper["num_hidden_layers"] = args.layers
    return transformers.LlamaConfig(**hyper, pad_token_id=0, bos_token_id=1, eos_token_id=2)


def word_tokenizer(vocab_size: int) -> Any:
    """A word-level tokenizer over the whole vocabulary (``t4`` .. ``tN``): an example of n
    words is n tokens, so the lengths are exact."""
    import transformers
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {token: i for i, token in enumerate(SPECIALS)}
    vocab.update({f"t{i}": i for i in range(len(SPECIALS), vocab_size)})
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", bos_token="<s>", eos_token="</s>"
    )
    tokenizer.unk_token = "<unk>"
    tokenizer.chat_template = TEMPLATE
    return tokenizer


def write_data(path: Path, length: int, vocab_size: int, count: int) -> Path:
    """``count`` examples of ``length`` tokens in all (prompt, answer, template tokens)."""
    import random

    rng = random.Random(0)
    words = lambda n: " ".join(f"t{rng.randrange(4, vocab_size)}" for _ in range(n))  # noqa: E731
    with path.open("w", encoding="utf-8") as handle:
        for _ in range(count):
            prompt, answer = words(length - ANSWER_TOKENS - 4), words(ANSWER_TOKENS)
            messages = [
                {"role": "user", "content": prompt},
                {"role": "assistant", "content": answer},
            ]
            handle.write(json.dumps({"messages": messages}) + "\n")
    return path


def build_model(config: Any, dtype: str, device: str) -> Any:
    """A random model built directly in ``dtype`` on ``device`` (no float32 copy first)."""
    import torch
    import transformers

    torch.manual_seed(0)
    with torch.device(device):
        return transformers.AutoModelForCausalLM.from_config(config, dtype=getattr(torch, dtype))


def random_checkpoint(config: Any, tokenizer: Any, folder: Path, device: str) -> Path:
    """A random bf16 checkpoint with the tokenizer, written once (for QLoRA's loader)."""
    if (folder / ".complete").is_file():
        return folder
    model = build_model(config, "bfloat16", device)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / ".complete").write_text("random weights\n")
    del model
    free_memory()
    return folder


def free_memory() -> None:
    gc.collect()
    with contextlib.suppress(ImportError):
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()


class StepTimer:
    """Wall time of each optimizer step (the GPU synchronised at both ends)."""

    def __init__(self) -> None:
        import transformers

        self.seconds: list[float] = []
        timer = self

        class Callback(transformers.TrainerCallback):
            def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                model = kw.get("model")
                if model is not None:
                    timer.trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)

            def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                timer.sync()
                timer.started = time.perf_counter()

            def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                timer.sync()
                timer.seconds.append(time.perf_counter() - timer.started)

        self.callback = Callback()
        self.started = 0.0
        self.trainable: int | None = None

    @staticmethod
    def sync() -> None:
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()


def run(method: str, args: argparse.Namespace, work: Path) -> dict:
    """One method through care's training code; its figures."""
    import torch

    from care.train.sft import options_for, train_sft
    from care.train.sft_model import precision_for

    cuda = torch.cuda.is_available() and not args.tiny
    preset = "paper" if method == "full" else "lora-24gb"
    options = options_for(
        preset,
        method=method,
        max_steps=args.warmup + args.steps,
        batch_size=1,
        grad_accum=1,
        max_length=args.length,
        save_steps=10**6,
        logging_steps=1,
        warmup=0.0,
        lr=1e-5 if method == "full" else 2e-4,
    )
    precision = precision_for(options.method, options.bf16)
    config = model_config(args)
    tokenizer = word_tokenizer(config.vocab_size)
    data = write_data(work / f"{method}.jsonl", args.length, config.vocab_size, 4)
    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    timer = StepTimer()
    device = "cuda" if cuda else "cpu"
    base, model = "", None
    if method == "qlora" or args.base:  # care's own loader reads the checkpoint
        base = args.base or str(random_checkpoint(config, tokenizer, work / "random-8b", device))
        tokenizer = None
    else:
        model = build_model(config, precision.load_dtype, device)
    result = train_sft(
        base,
        data,
        work / f"run-{method}",
        options,
        model=model,
        tokenizer=tokenizer,
        callbacks=[timer.callback],
        save=False,
        progress=lambda _line: None,  # the figures below instead of the training log
    )
    measured = timer.seconds[args.warmup :] or timer.seconds
    seconds = statistics.median(measured)
    tokens_per_s = args.length / seconds
    row = {
        "method": method,
        "model": args.base or ("tiny" if args.tiny else "llama-3.1-8b architecture (random)"),
        "layers": config.num_hidden_layers,
        "precision": {"bf16": precision.bf16, "weights": precision.load_dtype},
        "trainable_params": timer.trainable,
        "activation_checkpointing": options.gradient_checkpointing,
        "context": args.length,
        "steps": result.steps,
        "seconds_per_step": round(seconds, 4),
        "tokens_per_s": round(tokens_per_s, 1),
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if cuda else None,
        "epoch_hours": round(args.examples * args.example_tokens / tokens_per_s / 3600, 2),
        "first_loss": result.first_loss,
    }
    del model, result
    free_memory()
    return row


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a tiny model on the CPU")
    parser.add_argument("--methods", default="lora,qlora,full")
    parser.add_argument("--length", type=int, default=None, help="tokens per example (8192)")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--layers", type=int, default=None)
    parser.add_argument("--base", default=None, help="a model directory instead")
    parser.add_argument("--examples", type=int, default=7600)
    parser.add_argument("--example-tokens", type=int, default=6000)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--json", dest="json_out", default=None)
    args = parser.parse_args(argv)
    args.length = args.length or (256 if args.tiny else 8192)
    import torch

    if not args.tiny and not torch.cuda.is_available():
        parser.error("no CUDA GPU; use --tiny on the CPU")
    methods = [m for m in args.methods.split(",") if m]
    if args.tiny and "qlora" in methods:
        print(json.dumps({"method": "qlora", "skipped": "QLoRA needs a CUDA GPU"}), flush=True)
        methods.remove("qlora")
    rows = []
    with tempfile.TemporaryDirectory(prefix="sft-gpu-") as temporary:
        work = args.work or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        for method in methods:
            try:
                row = run(method, args, work)
            except torch.OutOfMemoryError as error:
                row = {"method": method, "error": str(error).splitlines()[0]}
                free_memory()
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return rows


if __name__ == "__main__":
    main()
