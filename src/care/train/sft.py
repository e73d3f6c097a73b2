"""Supervised fine-tuning of a causal LM on ``care sft-data`` examples (CARE's method).

* Data: ``train.jsonl`` from ``care sft-data``; the loss is on the final assistant message
  only (:mod:`care.train.sft_examples`), in the prompt format the model is later asked in.
* Methods: ``lora``, ``qlora`` (4-bit base, needs a CUDA GPU and bitsandbytes) and ``full``;
  precision and loading in :mod:`care.train.sft_model`.
* Training runs through trl's ``SFTTrainer`` on pre-tokenized examples (``input_ids`` and
  ``labels``), with checkpoints in ``OUT/checkpoints`` that ``resume=True`` continues from.
  The training arguments (and with them accelerate's distributed state) are created before
  the model is loaded; LoRA is applied by ``SFTTrainer`` from its ``peft_config``.
* The same code runs under ``accelerate launch`` with ``configs/accelerate/*.yaml``
  (DeepSpeed ZeRO-3, FSDP); the final model is gathered and written by the main process.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from care.backends.hf_prompt import has_chat_template
from care.errors import MissingDependencyError, ParameterError
from care.train.sft_examples import IGNORE, encode_example, load_examples, tokenize_examples
from care.train.sft_model import (
    Precision,
    distributed_type,
    load_base,
    lora_config,
    precision_for,
    use_full_state_dict,
)

__all__ = [
    "IGNORE",
    "METHODS",
    "PRESETS",
    "SFTOptions",
    "SFTResult",
    "encode_example",
    "load_examples",
    "options_for",
    "tokenize_examples",
    "train_sft",
]

logger = logging.getLogger(__name__)

Method = Literal["lora", "qlora", "full"]
METHODS = ("lora", "qlora", "full")
PEFT_MODELS = ("PeftModel", "PeftModelForCausalLM")  # already LoRA-wrapped by a caller


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
    #: bf16 mixed precision; None: where a CUDA GPU supports it (see care.train.sft_model).
    bf16: bool | None = None
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
    # The paper's setting: full fine-tuning, lr 5e-7, 10 epochs, cosine, warmup 0.1, bf16
    # (mixed precision on float32 master weights, where the GPU has bf16).
    "paper": SFTOptions(
        method="full",
        epochs=10,
        lr=5e-7,
        batch_size=1,
        grad_accum=16,
        scheduler="cosine",
        warmup=0.1,
        bf16=None,
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
        bf16=None,
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


def last_checkpoint(directory: Path) -> str | None:
    """The newest ``checkpoint-N`` folder in ``directory``."""
    if not directory.is_dir():
        return None
    found = [p for p in directory.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    return str(max(found, key=lambda p: int(p.name.split("-")[-1]))) if found else None


def checkpointing_arguments(enabled: bool) -> dict[str, Any]:
    """Activation (gradient) checkpointing on or off, under this transformers' name for it.

    Always given explicitly: trl's ``SFTConfig`` turns it on by default.
    """
    import inspect

    from transformers import TrainingArguments

    params = inspect.signature(TrainingArguments.__init__).parameters
    name = "activation_checkpointing" if "activation_checkpointing" in params else None
    return {name or "gradient_checkpointing": enabled}


def training_config(
    options: SFTOptions, checkpoints: Path, precision: Precision, *, save: bool = True
) -> Any:
    """trl's ``SFTConfig`` for a run (created before the model: it sets up accelerate's
    distributed state, which DeepSpeed ZeRO-3 and FSDP loading need); ``save=False``: no
    checkpoints."""
    import torch
    import trl

    cuda = torch.cuda.is_available()
    return trl.SFTConfig(
        output_dir=str(checkpoints),
        num_train_epochs=options.epochs,
        max_steps=options.max_steps,
        learning_rate=options.lr,
        lr_scheduler_type=options.scheduler,
        warmup_steps=options.warmup,
        weight_decay=options.weight_decay,
        per_device_train_batch_size=options.batch_size,
        gradient_accumulation_steps=options.grad_accum,
        bf16=precision.bf16,
        seed=options.seed,
        data_seed=options.seed,
        logging_steps=options.logging_steps,
        logging_first_step=True,
        save_strategy="steps" if save else "no",
        save_steps=options.save_steps,
        save_total_limit=2,
        report_to=[],
        disable_tqdm=True,
        max_length=options.max_length,
        packing=False,
        dataset_num_proc=None,
        use_cpu=not cuda,
        **checkpointing_arguments(options.gradient_checkpointing),
        **options.extra,
    )


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
    callbacks: Sequence[Any] = (),
    save: bool = True,
) -> SFTResult:
    """Fine-tune ``base`` on ``data`` and save the adapter (or the full model) in ``out``.

    ``model`` and ``tokenizer`` may be given instead of loading ``base``: the model then
    holds its weights in ``precision_for(options.method, options.bf16).load_dtype`` on its
    device, and LoRA is applied from the options unless it is a PEFT model already.
    ``callbacks`` are more ``TrainerCallback`` objects; ``save=False`` writes no checkpoint
    and no final model (benchmarks).
    """
    _torch, transformers, trl = _imports()
    from datasets import Dataset

    out = Path(out)
    examples = load_examples(Path(data))
    checkpoints = out / "checkpoints"
    precision = precision_for(options.method, options.bf16)
    config = training_config(options, checkpoints, precision, save=save)
    config.device  # noqa: B018 - the distributed state (process group, this rank's GPU) first
    if progress is not None:
        weights = precision.load_dtype
        if options.method == "qlora":
            weights = f"4-bit NF4 computing in {weights}"
        progress(
            f"weights in {weights}, "
            f"{'bf16 mixed precision' if precision.bf16 else 'no mixed precision'}, "
            f"activation checkpointing {'on' if options.gradient_checkpointing else 'off'}, "
            f"distributed: {distributed_type(config).lower()}"
        )
    transformers.set_seed(options.seed)
    if model is None or tokenizer is None:
        tokenizer, model = load_base(resolve_base(base), options.method, precision, config)
    peft_config = None
    if options.method in ("lora", "qlora") and type(model).__name__ not in PEFT_MODELS:
        peft_config = lora_config(options.lora_r, options.lora_alpha, options.lora_dropout)
    rows, n_truncated = tokenize_examples(tokenizer, examples, options.max_length)
    if n_truncated:
        logger.warning(
            "%d of %d examples are longer than --max-length %d and were cut at the end",
            n_truncated,
            len(examples),
            options.max_length,
        )
    dataset = Dataset.from_list(rows)
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
        callbacks=[_Log(), *callbacks],
        peft_config=peft_config,
    )
    if progress is not None:  # progress replaces the printing of raw log dictionaries
        trainer.remove_callback(transformers.PrinterCallback)
    resume_from = last_checkpoint(checkpoints) if resume else None
    if resume and resume_from is None and progress is not None:
        progress(f"no checkpoint in {checkpoints}: starting from the beginning")
    trainer.train(resume_from_checkpoint=resume_from)
    # save_model writes on the main process only: the adapter for LoRA, else the model
    # (gathered under DeepSpeed ZeRO-3 and FSDP), with the tokenizer.
    if save:
        use_full_state_dict(trainer)
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
        "precision": asdict(precision),
        "distributed": distributed_type(config),
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
