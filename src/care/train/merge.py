"""Merge a LoRA adapter into its base model (``care train merge``).

The merged directory is a plain transformers model (weights, config and tokenizer) that
``care assess --model transformers/DIR`` loads without peft.
"""

from __future__ import annotations

from pathlib import Path

from care.errors import MissingDependencyError, ModelError


def merge_adapter(base: str, adapter: str | Path, out: str | Path) -> Path:
    """Load ``base``, apply the PEFT ``adapter``, merge it and save model + tokenizer to ``out``."""
    try:
        import transformers
        from peft import PeftModel
    except ImportError as error:
        raise MissingDependencyError("peft", "llm", "merging a LoRA adapter") from error
    from care.train.sft import resolve_base

    path = resolve_base(base)
    adapter = Path(adapter)
    if not (adapter / "adapter_config.json").is_file():
        raise ModelError(
            f"{adapter} holds no adapter_config.json",
            file=str(adapter),
            fix="give the --out directory of `care train sft --method lora`",
        )
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(path)
        model = transformers.AutoModelForCausalLM.from_pretrained(path)
    except (OSError, ValueError) as error:
        raise ModelError(
            f"cannot load the model {path!r}: {str(error).splitlines()[0]}", file=path
        ) from error
    merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
