"""The model that ``care train sft`` trains: its precision, where it is loaded, and LoRA.

Precision (:func:`precision_for`):

* ``full``: the weights are loaded and kept in float32 (the optimizer's master weights);
  bf16 is mixed precision only (autocast; DeepSpeed's and FSDP's bf16). A step of the
  ``paper`` preset's lr 5e-7 is far below bfloat16's resolution at these weights' sizes: on
  bf16 weights AdamW would change nothing.
* ``lora``: the frozen base in bf16 (float32 without bf16), the adapter in float32 (peft's
  default; under DeepSpeed ZeRO-3 trl keeps it in the base's dtype).
* ``qlora``: a 4-bit NF4 base computing in bf16 (float32 without bf16), stored as that dtype
  (``bnb_4bit_quant_storage``, which FSDP and ZeRO-3 need to shard it).

bf16 by default (``bf16=None``) where a CUDA GPU supports it; ``True`` / ``False`` force it.

Loading (:func:`load_base`) happens after the training arguments exist, so that DeepSpeed
ZeRO-3 (``zero3_init_flag``) builds the model partitioned and FSDP's
``cpu_ram_efficient_loading`` loads the weights on the first process only. Without
DeepSpeed or FSDP, a CUDA process loads the model straight onto its own GPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from care.errors import MissingDependencyError, ModelError, ParameterError

SHARDED = ("DEEPSPEED", "FSDP")


@dataclass(frozen=True)
class Precision:
    """How a run holds and computes its weights.

    Attributes:
        bf16: bf16 mixed precision (the trainer's ``bf16``).
        load_dtype: The dtype the model's weights are loaded in (``"float32"`` or
            ``"bfloat16"``); for qlora, the 4-bit weights' compute and storage dtype.
    """

    bf16: bool
    load_dtype: str


def bf16_supported() -> bool:
    """Whether this machine has a CUDA GPU that computes in bf16."""
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def precision_for(method: str, bf16: bool | None, *, supported: bool | None = None) -> Precision:
    """The precision of a ``method`` run (see the module docstring); ``bf16=None`` means
    bf16 where ``supported`` (default: :func:`bf16_supported`)."""
    use_bf16 = (bf16_supported() if supported is None else supported) if bf16 is None else bf16
    if method == "full":
        return Precision(use_bf16, "float32")
    return Precision(use_bf16, "bfloat16" if use_bf16 else "float32")


def distributed_type(config: Any) -> str:
    """accelerate's distributed type of a run (``NO``, ``MULTI_GPU``, ``DEEPSPEED``,
    ``FSDP``, ...), read from the training arguments' distributed state."""
    state = getattr(config, "distributed_state", None)
    kind = getattr(state, "distributed_type", None)
    return str(getattr(kind, "value", kind or "NO")).upper()


def _device_map(config: Any) -> Any:
    import torch

    if not torch.cuda.is_available() or distributed_type(config) in SHARDED:
        return None  # DeepSpeed and FSDP place (and shard) the weights themselves
    return {"": str(config.device)}  # this process's own GPU (its local rank under DDP)


def load_base(base_path: str, method: str, precision: Precision, config: Any) -> tuple[Any, Any]:
    """The tokenizer and the (not yet LoRA-wrapped) model, for training arguments
    ``config`` that already exist (see the module docstring)."""
    import torch
    import transformers

    dtype = getattr(torch, precision.load_dtype)
    kwargs: dict[str, Any] = {"dtype": dtype, "device_map": _device_map(config)}
    if method == "qlora":
        if not torch.cuda.is_available():
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
            bnb_4bit_compute_dtype=dtype,
            bnb_4bit_quant_storage=dtype,
        )
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(base_path)
        model = transformers.AutoModelForCausalLM.from_pretrained(base_path, **kwargs)
    except (OSError, ValueError) as error:
        raise ModelError(
            f"cannot load the model {base_path!r}: {str(error).splitlines()[0]}",
            file=base_path,
            fix="give a local model directory or a reachable hub id (gemma3-270m: demo model)",
        ) from error
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if model.generation_config is not None and model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    if method == "qlora" and distributed_type(config) not in SHARDED:
        # Casts the norms to float32 and readies the inputs for checkpointing; not under
        # FSDP / ZeRO-3, whose flat parameters need one dtype.
        import peft

        model = peft.prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=bool(config.gradient_checkpointing)
        )
    return tokenizer, model


def lora_config(r: int, alpha: int, dropout: float) -> Any:
    """LoRA on every linear layer of a causal LM (given to trl's ``SFTTrainer``, which
    wraps the model and handles the adapter's dtype under DeepSpeed ZeRO-3)."""
    try:
        import peft
    except ImportError as error:
        raise MissingDependencyError("peft", "llm", "LoRA fine-tuning") from error
    return peft.LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules="all-linear",
        task_type="CAUSAL_LM",
    )


def use_full_state_dict(trainer: Any) -> None:
    """Under FSDP, gather the whole model for the final save: with ``SHARDED_STATE_DICT``
    (kept for the checkpoints) ``Trainer.save_model`` writes no weights at all."""
    if getattr(trainer, "is_fsdp_enabled", False):
        trainer.accelerator.state.fsdp_plugin.set_state_dict_type("FULL_STATE_DICT")
