"""Supervised fine-tuning of a causal LM on ``care sft-data`` examples (CARE's method).

* Data: ``train.jsonl`` from ``care sft-data``: one ``{"messages": [user, assistant], ...}``
  object per line. The loss is on the final assistant message only (its tokens and the end of
  turn); every prompt token has label ``-100``.
* Prompt format: the base model's chat template where it has one; otherwise the plain format
  that ``transformers/<model>`` uses at inference (user text, a blank line, ``Answer:``, a
  newline), with the answer followed by the end-of-sequence token.
* Methods: ``lora``, ``qlora`` (4-bit base, needs a CUDA GPU and bitsandbytes) and ``full``.
* Training runs through trl's ``SFTTrainer`` on pre-tokenized examples (``input_ids`` and
  ``labels``), with checkpoints in ``OUT/checkpoints`` that ``resume=True`` continues from.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from care.errors import DataError, MissingDependencyError, ModelError, ParameterError

logger = logging.getLogger(__name__)

Method = Literal["lora", "qlora", "full"]
METHODS = ("lora", "qlora", "full")
IGNORE = -100
PLAIN_ANSWER_CUE = "Answer:\n"


@dataclass(frozen=True)
class SFTOptions:
    """Hyper-parameters of one fine-tuning run."""

    method: Method = "lora"
    epochs: float = 3.0
    lr: float = 2e-4
    batch_size: int = 1
    grad_accum: int = 8
    max_length: int = 4096
    seed: int = 123
    scheduler: str = "cosine"
    warmup: float = 0.1
    bf16: bool = False
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    gradient_checkpointing: bool = False
    logging_steps: int = 1
    save_steps: int = 200
    max_steps: int = -1
    weight_decay: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


PRESETS: dict[str, SFTOptions] = {
    # The paper's setting: full fine-tuning, lr 5e-7, 10 epochs, cosine, warmup 0.1, bf16.
    "paper": SFTOptions(
        method="full",
        epochs=10,
        lr=5e-7,
        batch_size=1,
        grad_accum=16,
        scheduler="cosine",
        warmup=0.1,
        bf16=True,
        seed=123,
        gradient_checkpointing=True,
    ),
    # LoRA r16 on every linear layer of a ~7-8B model on one 24 GB GPU.
    "lora-24gb": SFTOptions(
        method="lora",
        epochs=3,
        lr=2e-4,
        batch_size=1,
        grad_accum=16,
        max_length=4096,
        bf16=True,
        lora_r=16,
        lora_alpha=32,
        gradient_checkpointing=True,
    ),
    # A smoke test on a CPU with a small model.
    "cpu-tiny": SFTOptions(
        method="lora",
        epochs=1,
        lr=1e-3,
        batch_size=1,
        grad_accum=1,
        max_length=512,
        bf16=False,
        lora_r=8,
        lora_alpha=16,
        save_steps=50,
    ),
}


@dataclass
class SFTResult:
    """What a run did."""

    out: Path
    method: str
    template: str
    n_examples: int
    n_truncated: int
    steps: int
    losses: list[float]
    resumed_from: str | None

    @property
    def first_loss(self) -> float | None:
        return self.losses[0] if self.losses else None

    @property
    def last_loss(self) -> float | None:
        return self.losses[-1] if self.losses else None


def options_for(preset: str | None, **overrides: Any) -> SFTOptions:
    """A preset's options with the given (non-None) overrides."""
    if preset is not None and preset not in PRESETS:
        raise ParameterError(
            f"unknown preset {preset!r}",
            field="--preset",
            fix=f"choose one of {', '.join(PRESETS)}",
        )
    base = PRESETS[preset] if preset else SFTOptions()
    changes = {key: value for key, value in overrides.items() if value is not None}
    options = replace(base, **changes)
    if options.method not in METHODS:
        raise ParameterError(
            f"unknown method {options.method!r}", field="--method", fix="lora, qlora or full"
        )
    return options


# -- data -----------------------------------------------------------------------------------


def load_examples(path: Path) -> list[list[dict[str, str]]]:
    """The ``messages`` of each line of a ``care sft-data`` train.jsonl file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such file: {path}", file=str(path), fix="run care sft-data first")
    examples: list[list[dict[str, str]]] = []
    problems: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            problems.append(f"line {number}: not JSON ({error.msg})")
            continue
        messages = record.get("messages") if isinstance(record, dict) else None
        if (
            not isinstance(messages, list)
            or len(messages) < 2
            or not all(isinstance(m, dict) and isinstance(m.get("content"), str) for m in messages)
            or messages[-1].get("role") != "assistant"
        ):
            problems.append(f"line {number}: needs 'messages' ending with an assistant message")
            continue
        examples.append([{"role": m["role"], "content": m["content"]} for m in messages])
    if problems:
        shown = "; ".join(problems[:5]) + (f" (and {len(problems) - 5} more)" * (len(problems) > 5))
        raise DataError(
            f"{path}: {shown}", file=str(path), fix="give the train.jsonl that care sft-data writes"
        )
    if not examples:
        raise DataError(f"{path} holds no examples", file=str(path))
    return examples


def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def plain_prompt(messages: list[dict[str, str]]) -> str:
    """The prompt without a chat template, exactly as the transformers backend renders it."""
    parts = []
    for message in messages:
        if message["role"] == "assistant":
            parts.append(f"{PLAIN_ANSWER_CUE}{message['content'].strip()}\n\n")
        else:
            parts.append(f"{message['content'].strip()}\n\n")
    return "".join(parts) + PLAIN_ANSWER_CUE


def encode_example(
    tokenizer: Any, messages: list[dict[str, str]], max_length: int | None = None
) -> tuple[list[int], list[int], bool]:
    """``(input_ids, labels, truncated)``: labels are ``-100`` on the prompt's tokens.

    The prompt is tokenized alone, as it is at inference, and the answer after it.
    """
    prompt_messages, answer = messages[:-1], messages[-1]["content"]
    if has_chat_template(tokenizer):
        prompt_text = tokenizer.apply_chat_template(
            prompt_messages, tokenize=False, add_generation_prompt=True
        )
        full_text = tokenizer.apply_chat_template(messages, tokenize=False)
        if not full_text.startswith(prompt_text):
            raise ModelError(
                "the chat template renders the prompt differently with the answer after it",
                fix="use a model whose chat template extends the generation prompt",
            )
        answer_text = full_text[len(prompt_text) :]
        prompt_ids = tokenizer(prompt_text, add_special_tokens=False).input_ids
        answer_ids = tokenizer(answer_text, add_special_tokens=False).input_ids
        if tokenizer.eos_token_id is not None and not answer_ids:
            answer_ids = [tokenizer.eos_token_id]
    else:
        prompt_ids = tokenizer(plain_prompt(prompt_messages), add_special_tokens=True).input_ids
        answer_ids = tokenizer(answer.strip(), add_special_tokens=False).input_ids
        if tokenizer.eos_token_id is not None:
            answer_ids = [*answer_ids, tokenizer.eos_token_id]
    input_ids = list(prompt_ids) + list(answer_ids)
    labels = [IGNORE] * len(prompt_ids) + list(answer_ids)
    truncated = max_length is not None and len(input_ids) > max_length
    if truncated:
        input_ids, labels = input_ids[:max_length], labels[:max_length]
    return input_ids, labels, truncated


def tokenize_examples(
    tokenizer: Any, examples: list[list[dict[str, str]]], max_length: int | None
) -> tuple[list[dict[str, list[int]]], int]:
    """Tokenized examples (those with answer tokens left) and how many were truncated."""
    rows, truncated = [], 0
    for messages in examples:
        input_ids, labels, cut = encode_example(tokenizer, messages, max_length)
        truncated += cut
        if any(label != IGNORE for label in labels):
            rows.append({"input_ids": input_ids, "labels": labels})
    if not rows:
        raise DataError(
            "no example keeps any answer token within --max-length",
            field="--max-length",
            fix="raise --max-length or shorten prompts with care sft-data --max-prompt-tokens",
        )
    return rows, truncated


# -- model ----------------------------------------------------------------------------------


def _imports() -> tuple[Any, Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as error:
        raise MissingDependencyError("transformers", "llm", "care train sft") from error
    try:
        import trl
    except ImportError as error:
        raise MissingDependencyError("trl", "train-llm", "care train sft") from error
    return torch, transformers, trl


def resolve_base(base: str) -> str:
    """A model directory or hub id; ``gemma3-270m`` is care's demo model."""
    from care.backends.transformers_backend import DEMO_MODELS, prepare_demo_model

    if base in DEMO_MODELS:
        return str(prepare_demo_model(base))
    return base


def load_base(base: str, options: SFTOptions) -> tuple[Any, Any]:
    """The tokenizer and the model to train (wrapped with LoRA for lora/qlora)."""
    torch, transformers, _ = _imports()
    path = resolve_base(base)
    cuda = torch.cuda.is_available()
    dtype = torch.bfloat16 if options.bf16 and cuda else torch.float32
    kwargs: dict[str, Any] = {"dtype": dtype}
    if options.method == "qlora":
        if not cuda:
            raise ParameterError(
                "qlora needs a CUDA GPU", field="--method", fix="use --method lora on a CPU"
            )
        try:
            import bitsandbytes  # noqa: F401
        except ImportError as error:
            raise MissingDependencyError("bitsandbytes", "train-llm", "--method qlora") from error
        kwargs["quantization_config"] = transformers.BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(path)
        model = transformers.AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except (OSError, ValueError) as error:
        raise ModelError(
            f"cannot load the model {path!r}: {str(error).splitlines()[0]}",
            file=path,
            fix="give a local model directory or a reachable hub id (gemma3-270m: demo model)",
        ) from error
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if model.generation_config is not None and model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    if options.method in ("lora", "qlora"):
        try:
            import peft
        except ImportError as error:
            raise MissingDependencyError("peft", "llm", "LoRA fine-tuning") from error
        if options.method == "qlora":
            model = peft.prepare_model_for_kbit_training(
                model, use_gradient_checkpointing=options.gradient_checkpointing
            )
        config = peft.LoraConfig(
            r=options.lora_r,
            lora_alpha=options.lora_alpha,
            lora_dropout=options.lora_dropout,
            target_modules="all-linear",
            task_type="CAUSAL_LM",
        )
        model = peft.get_peft_model(model, config)
    return tokenizer, model


def last_checkpoint(directory: Path) -> str | None:
    """The newest ``checkpoint-N`` folder in ``directory``."""
    if not directory.is_dir():
        return None
    found = [p for p in directory.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    return str(max(found, key=lambda p: int(p.name.split("-")[-1]))) if found else None


def _checkpointing(enabled: bool) -> dict[str, Any]:
    """Activation (gradient) checkpointing, under the argument's name in this transformers."""
    if not enabled:
        return {}
    import inspect

    from transformers import TrainingArguments

    params = inspect.signature(TrainingArguments.__init__).parameters
    name = "activation_checkpointing" if "activation_checkpointing" in params else None
    return {name or "gradient_checkpointing": True}


# -- training -------------------------------------------------------------------------------


def train_sft(
    base: str,
    data: Path,
    out: Path,
    options: SFTOptions,
    *,
    resume: bool = False,
    progress: Callable[[str], None] | None = None,
    model: Any = None,
    tokenizer: Any = None,
) -> SFTResult:
    """Fine-tune ``base`` on ``data`` and save the adapter (or the full model) in ``out``.

    ``model`` and ``tokenizer`` may be given instead of loading ``base`` (the caller then
    applies LoRA itself if it wants it).
    """
    torch, transformers, trl = _imports()
    from datasets import Dataset

    out = Path(out)
    examples = load_examples(Path(data))
    transformers.set_seed(options.seed)
    if model is None or tokenizer is None:
        tokenizer, model = load_base(base, options)
    rows, n_truncated = tokenize_examples(tokenizer, examples, options.max_length)
    if n_truncated:
        logger.warning(
            "%d of %d examples are longer than --max-length %d and were cut at the end",
            n_truncated,
            len(examples),
            options.max_length,
        )
    dataset = Dataset.from_list(rows)
    checkpoints = out / "checkpoints"
    cuda = torch.cuda.is_available()
    config = trl.SFTConfig(
        output_dir=str(checkpoints),
        num_train_epochs=options.epochs,
        max_steps=options.max_steps,
        learning_rate=options.lr,
        lr_scheduler_type=options.scheduler,
        warmup_steps=options.warmup,
        weight_decay=options.weight_decay,
        per_device_train_batch_size=options.batch_size,
        gradient_accumulation_steps=options.grad_accum,
        bf16=options.bf16 and cuda,
        seed=options.seed,
        data_seed=options.seed,
        logging_steps=options.logging_steps,
        logging_first_step=True,
        save_strategy="steps",
        save_steps=options.save_steps,
        save_total_limit=2,
        report_to=[],
        disable_tqdm=True,
        max_length=options.max_length,
        packing=False,
        dataset_num_proc=None,
        use_cpu=not cuda,
        **_checkpointing(options.gradient_checkpointing and cuda),
        **options.extra,
    )
    losses: list[float] = []

    class _Log(transformers.TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if logs and "loss" in logs and math.isfinite(float(logs["loss"])):
                losses.append(float(logs["loss"]))
                if progress is not None:
                    progress(
                        f"step {state.global_step}/{state.max_steps} "
                        f"epoch {float(logs.get('epoch', state.epoch or 0)):.2f} "
                        f"loss {float(logs['loss']):.4f}"
                    )

    trainer = trl.SFTTrainer(
        model=model,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[_Log()],
    )
    if progress is not None:  # progress replaces the printing of raw log dictionaries
        trainer.remove_callback(transformers.PrinterCallback)
    resume_from = last_checkpoint(checkpoints) if resume else None
    if resume and resume_from is None and progress is not None:
        progress(f"no checkpoint in {checkpoints}: starting from the beginning")
    trainer.train(resume_from_checkpoint=resume_from)
    # save_model gathers sharded (DeepSpeed, FSDP) weights and writes on the main process only;
    # for LoRA it writes the adapter. The tokenizer goes along with it.
    trainer.save_model(str(out))
    template = "chat template" if has_chat_template(tokenizer) else "plain (Answer:)"
    result = SFTResult(
        out=out,
        method=options.method,
        template=template,
        n_examples=len(rows),
        n_truncated=n_truncated,
        steps=int(trainer.state.global_step),
        losses=losses,
        resumed_from=resume_from,
    )
    info = {
        "base": base,
        "data": str(data),
        "options": asdict(options),
        "template": template,
        "n_examples": len(rows),
        "n_truncated": n_truncated,
        "steps": result.steps,
        "losses": losses,
        "resumed_from": resume_from,
        "trainer": f"trl {trl.__version__} SFTTrainer",
    }
    if trainer.is_world_process_zero():
        out.mkdir(parents=True, exist_ok=True)
        (out / "care-sft.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    return result
