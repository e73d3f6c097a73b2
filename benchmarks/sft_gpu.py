"""SFT throughput on a GPU: LoRA and full fine-tuning of a randomly initialised model with
Llama-3.1-8B's architecture (no weights are downloaded) at 8k context.

Reports tokens/second, peak memory and the projected time of one epoch of ~7,600 examples
of ~6k tokens. ``--tiny`` runs a small model on the CPU (a smoke test of the script).

    python benchmarks/sft_gpu.py            # on a GPU machine
    python benchmarks/sft_gpu.py --tiny     # anywhere
"""

from __future__ import annotations

import argparse
import gc
import json
import time

import torch
import transformers

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
    "max_position_embeddings": 1024,
}


def build(tiny: bool, method: str, device: str) -> torch.nn.Module:
    config = transformers.LlamaConfig(**(TINY if tiny else LLAMA_31_8B))
    dtype = torch.float32 if device == "cpu" else torch.bfloat16
    if device != "cpu":
        config._attn_implementation = "sdpa"
    with torch.device(device):
        model = transformers.LlamaForCausalLM(config).to(dtype)
    model.config.use_cache = False
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if method == "lora":
        import peft

        lora = peft.LoraConfig(
            r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM"
        )
        model = peft.get_peft_model(model, lora)
        model.enable_input_require_grads()
    return model


def run(method: str, args: argparse.Namespace) -> dict:
    device = "cpu" if args.tiny else "cuda"
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    torch.manual_seed(0)
    model = build(args.tiny, method, device)
    params = [p for p in model.parameters() if p.requires_grad]
    # Full fine-tuning in bf16 with AdamW (fp32 states would need ~128 GB for 8B weights).
    optimizer = torch.optim.AdamW(params, lr=1e-5, fused=device == "cuda")
    vocab = model.config.vocab_size
    ids = torch.randint(0, vocab, (1, args.length), device=device)
    times = []
    for step in range(args.warmup + args.steps):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        if step >= args.warmup:
            times.append(time.perf_counter() - start)
    seconds = sum(times) / len(times)
    tokens_per_s = args.length / seconds
    epoch_tokens = args.examples * args.example_tokens
    result = {
        "method": method,
        "model": "tiny" if args.tiny else "llama-3.1-8b architecture (random init)",
        "trainable_params": sum(p.numel() for p in params),
        "context": args.length,
        "seconds_per_step": round(seconds, 4),
        "tokens_per_s": round(tokens_per_s, 1),
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)
        if device == "cuda"
        else None,
        "epoch_hours": round(epoch_tokens / tokens_per_s / 3600, 2),
    }
    del model, optimizer
    gc.collect()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="small model on the CPU")
    parser.add_argument("--methods", default="lora,full")
    parser.add_argument("--length", type=int, default=None, help="tokens per example (8192)")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--examples", type=int, default=7600)
    parser.add_argument("--example-tokens", type=int, default=6000)
    args = parser.parse_args()
    args.length = args.length or (256 if args.tiny else 8192)
    if not args.tiny and not torch.cuda.is_available():
        parser.error("no CUDA GPU; use --tiny on the CPU")
    for method in args.methods.split(","):
        try:
            print(json.dumps(run(method, args)), flush=True)
        except torch.OutOfMemoryError as error:
            print(json.dumps({"method": method, "error": str(error).splitlines()[0]}), flush=True)
            gc.collect()


if __name__ == "__main__":
    main()
