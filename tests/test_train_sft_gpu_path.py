"""care train sft's GPU path, shown where a CPU can show it: precision of full fine-tuning,
activation checkpointing, LoRA through trl's peft_config, saved models that load, and the
accelerate configurations (DeepSpeed ZeRO-3, FSDP) as accelerate itself reads them.

Real tiny runs (the random Llama of test_train_sft); trl's SFTTrainer is only wrapped to
look at the trainer that care builds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")
trl = pytest.importorskip("trl")
pytest.importorskip("datasets")

from care.train.sft import options_for, train_sft, training_config  # noqa: E402
from care.train.sft_model import precision_for, use_full_state_dict  # noqa: E402
from test_train_sft import EXAMPLES, _tiny_model, _write_data  # noqa: E402

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
WEIGHT = "model.layers.0.mlp.down_proj.weight"


@pytest.fixture
def trainers(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, dict[str, Any]]]:
    """Every SFTTrainer care creates, with the keyword arguments it was given."""
    made: list[tuple[Any, dict[str, Any]]] = []

    class Recording(trl.SFTTrainer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            made.append((self, dict(kwargs)))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(trl, "SFTTrainer", Recording)
    return made


def _bf16_base(directory: Path) -> Path:
    base = _tiny_model(directory)
    model = transformers.AutoModelForCausalLM.from_pretrained(base, dtype=torch.bfloat16)
    model.save_pretrained(base)
    return base


def _weight(path: Path, dtype: Any = None) -> Any:
    model = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=dtype or "auto")
    return model.state_dict()[WEIGHT]


def _steps(**overrides: Any) -> Any:
    settings = {"max_steps": 3, "save_steps": 100, "warmup": 0.0, "scheduler": "constant"}
    return options_for("cpu-tiny", **{**settings, **overrides})


def test_pure_bf16_adamw_at_the_paper_lr_changes_nothing() -> None:
    # Why full fine-tuning keeps float32 weights: AdamW's step (about lr) on a bf16 weight
    # of typical size (|w| >= 1e-3) rounds back to the same value; only near-zero weights move.
    torch.manual_seed(0)
    weight = torch.nn.Parameter((torch.randn(64, 64) * 0.02).to(torch.bfloat16))
    before = weight.detach().clone()
    optimizer = torch.optim.AdamW([weight], lr=5e-7, weight_decay=0.0)
    for _ in range(3):
        weight.grad = torch.randn_like(weight)
        optimizer.step()
    changed = weight.detach() != before
    typical = before.abs() >= 1e-3
    assert typical.float().mean() > 0.95
    assert not changed[typical].any()
    assert changed.float().mean() < 0.05


def test_bf16_full_fine_tuning_keeps_float32_master_weights_and_learns(
    tmp_path: Path, trainers: list
) -> None:
    base = _bf16_base(tmp_path / "base")
    assert _weight(base).dtype == torch.bfloat16
    data = _write_data(tmp_path / "train.jsonl")
    out = tmp_path / "full"
    result = train_sft(str(base), data, out, _steps(method="full", lr=5e-7, bf16=True))
    assert result.steps == 3
    trainer, _ = trainers[-1]
    assert trainer.accelerator.mixed_precision == "bf16"  # bf16 autocast ...
    assert {p.dtype for p in trainer.model.parameters()} == {torch.float32}  # ... fp32 weights
    info = json.loads((out / "care-sft.json").read_text())
    assert info["precision"] == {"bf16": True, "load_dtype": "float32"}

    before, after = _weight(base, torch.float32), _weight(out, torch.float32)
    change = (after - before).abs()
    assert (change > 0).float().mean() > 0.5, "most weights did not change"
    assert change.max() < 1e-4  # steps of about lr, not a reinitialisation

    # The saved folder is a model that care assesses with.
    from care.backends.base import GenerationOptions
    from care.backends.registry import get_backend

    backend = get_backend(f"transformers/{out}", threads=1)
    generation = backend.generate(
        [{"role": "user", "content": EXAMPLES[0][0]}], GenerationOptions(max_tokens=2)
    )
    assert generation.usage.prompt_tokens > 0


@pytest.mark.parametrize("enabled", [False, True])
def test_activation_checkpointing_follows_the_flag(
    tmp_path: Path, trainers: list, enabled: bool
) -> None:
    base = _tiny_model(tmp_path / "base")
    data = _write_data(tmp_path / "train.jsonl")
    options = _steps(method="full", max_steps=1, gradient_checkpointing=enabled)
    train_sft(str(base), data, tmp_path / "out", options)
    trainer, _ = trainers[-1]
    model = trainer.model
    flag = getattr(model, "is_activation_checkpointing", None)
    if flag is None:
        flag = model.is_gradient_checkpointing
    assert flag is enabled
    # trl's SFTConfig turns checkpointing on by default; care always says which it wants.
    assert trainer.args.gradient_checkpointing is enabled


def test_lora_goes_through_peft_config_and_the_adapter_loads(
    tmp_path: Path, trainers: list
) -> None:
    base = _tiny_model(tmp_path / "base")
    data = _write_data(tmp_path / "train.jsonl")
    out = tmp_path / "lora"
    options = _steps(lr=5e-2, lora_r=8, lora_dropout=0.0)
    train_sft(str(base), data, out, options)
    trainer, kwargs = trainers[-1]
    assert isinstance(kwargs["peft_config"], peft.LoraConfig) and kwargs["peft_config"].r == 8
    assert not isinstance(kwargs["model"], peft.PeftModel)  # care does not wrap it itself
    assert isinstance(trainer.model, peft.PeftModel)  # trl did, from peft_config
    trainable = {p.dtype for p in trainer.model.parameters() if p.requires_grad}
    assert trainable == {torch.float32}
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["r"] == 8 and Path(config["base_model_name_or_path"]) == base

    from care.backends.base import GenerationOptions
    from care.backends.registry import get_backend

    backend = get_backend(f"transformers/{out}", threads=1)  # the adapter folder as a model
    generation = backend.generate(
        [{"role": "user", "content": EXAMPLES[1][0]}], GenerationOptions(max_tokens=2)
    )
    assert isinstance(backend._model, peft.PeftModel)
    assert generation.usage.prompt_tokens > 0


# -- accelerate configurations ----------------------------------------------------------------


def _launch_environment(name: str) -> dict[str, str]:
    """The environment ``accelerate launch --config_file configs/accelerate/NAME.yaml``
    gives each process, computed by accelerate's own launcher code."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env

    path = ROOT / "configs" / "accelerate" / f"{name}.yaml"
    args = launch_command_parser().parse_args(["--config_file", str(path), "-m", "care"])
    args, defaults, _ = _validate_launch_command(args)
    if args.use_fsdp:
        return prepare_multi_gpu_env(args)
    assert args.use_deepspeed
    args.deepspeed_fields_from_accelerate_config = ",".join(defaults.deepspeed_config)
    return prepare_deepspeed_cmd_env(args)[1]


def _apply(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], prefixes: tuple) -> None:
    for key, value in env.items():
        if key.startswith(prefixes):
            monkeypatch.setenv(key, value)


@pytest.mark.parametrize("bf16", [False, True])
def test_fsdp_config_is_read_and_follows_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bf16: bool
) -> None:
    from accelerate.utils import FullyShardedDataParallelPlugin

    env = _launch_environment("fsdp")
    _apply(monkeypatch, env, ("ACCELERATE_", "FSDP_"))
    options = options_for("paper", bf16=bf16)
    precision = precision_for(options.method, options.bf16)
    config = training_config(options, tmp_path, precision)
    # The yaml does not impose a precision: the run's own decides.
    assert config.mixed_precision == ("bf16" if bf16 else "no")
    assert precision.load_dtype == "float32"

    # Loading on the first process only needs the others to receive its weights.
    assert env["FSDP_CPU_RAM_EFFICIENT_LOADING"] == env["FSDP_SYNC_MODULE_STATES"] == "true"
    assert os.environ["FSDP_CPU_RAM_EFFICIENT_LOADING"] == "true"  # read by from_pretrained
    # The rest of the plugin from the environment (syncing module states needs a GPU).
    plugin = FullyShardedDataParallelPlugin(
        cpu_ram_efficient_loading=False, sync_module_states=False
    )
    assert "SHARDED_STATE_DICT" in str(plugin.state_dict_type)  # checkpoints: one shard each
    assert "FULL_SHARD" in str(plugin.sharding_strategy) and plugin.use_orig_params

    # What use_full_state_dict reads of a transformers Trainer.
    accelerator = SimpleNamespace(state=SimpleNamespace(fsdp_plugin=plugin))
    use_full_state_dict(SimpleNamespace(is_fsdp_enabled=True, accelerator=accelerator))
    # transformers' Trainer.save_model writes weights under FSDP only on this condition.
    assert "FULL_STATE_DICT" in str(plugin.state_dict_type)


@pytest.mark.parametrize("bf16", [False, True])
def test_deepspeed_config_is_read_and_follows_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bf16: bool
) -> None:
    from accelerate.utils import DeepSpeedPlugin

    env = _launch_environment("deepspeed_zero3")
    assert env["ACCELERATE_USE_DEEPSPEED"] == "true"
    options = options_for("paper", bf16=bf16)
    precision = precision_for(options.method, options.bf16)
    _apply(monkeypatch, env, ("ACCELERATE_",))
    if importlib_find("deepspeed") is None:
        # transformers needs the deepspeed package to build DeepSpeed training arguments;
        # without it, do what they do (TrainingArguments.__post_init__) with accelerate's.
        monkeypatch.delenv("ACCELERATE_USE_DEEPSPEED")
        config = training_config(options, tmp_path, precision)
        monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
        plugin = DeepSpeedPlugin()
        plugin.set_mixed_precision(config.mixed_precision)
    else:
        config = training_config(options, tmp_path, precision)
        plugin = config.deepspeed_plugin
        from transformers.integrations import is_deepspeed_zero3_enabled

        assert is_deepspeed_zero3_enabled()  # set before care loads the model
    assert config.mixed_precision == ("bf16" if bf16 else "no")
    ds = plugin.deepspeed_config
    assert ds["bf16"]["enabled"] is bf16 and ds["fp16"]["enabled"] is False
    assert plugin.zero_stage == 3 and plugin.zero3_init_flag
    assert ds["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True


def importlib_find(name: str) -> Any:
    import importlib.util

    return importlib.util.find_spec(name)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [("NO", {"": "cuda:0"}), ("MULTI_GPU", {"": "cuda:3"}), ("DEEPSPEED", None), ("FSDP", None)],
)
def test_each_process_loads_onto_its_own_gpu_unless_sharded(
    monkeypatch: pytest.MonkeyPatch, kind: str, expected: Any
) -> None:
    from care.train import sft_model

    # The device each rank's training arguments chose (a DDP rank 3 runs on cuda:3): QLoRA
    # and LoRA weights go there, not to GPU 0; DeepSpeed and FSDP place them themselves.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    device = "cuda:3" if kind == "MULTI_GPU" else "cuda:0"
    config = SimpleNamespace(
        distributed_state=SimpleNamespace(distributed_type=kind), device=device
    )
    assert sft_model.distributed_type(config) == kind
    assert sft_model._device_map(config) == expected
