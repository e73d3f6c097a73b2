"""The transformers backend's batch path (no prefix reuse, several prompts padded together)
against its one-prompt path, on a tiny random Llama: raw logits for the option scores (not
scores after the model's own logits processors), stop strings and end-of-turn tokens."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from care.backends.base import GenerationOptions  # noqa: E402
from care.backends.hf_prompt import encode_prompt, option_token_ids  # noqa: E402
from care.backends.transformers_backend import TransformersBackend, _gather  # noqa: E402

torch.set_num_threads(1)
WORDS = [
    "how",
    "often",
    "did",
    "the",
    "counselor",
    "listen",
    "rate",
    "it",
    "1",
    "2",
    "3",
    "4",
    "5",
    "client",
    "said",
    "yes",
]
FILLERS = [f"w{i}" for i in range(200)]
TEMPLATE = (
    "{% for m in messages %}<s> {{ m['role'] }} : {{ m['content'] }} </s> {% endfor %}"
    "{% if add_generation_prompt %}<s> assistant :{% endif %}"
)
PROMPTS = [
    [{"role": "user", "content": "how often did the counselor listen rate it 1 2 3"}],
    [{"role": "user", "content": "client said yes rate it 4 5"}],
]
OPTIONS = ("1", "2", "3", "4", "5")


def _tokenizer(vocab: dict[str, int]) -> object:
    from tokenizers import Tokenizer, models, pre_tokenizers

    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    tokenizer.unk_token = "<unk>"
    tokenizer.chat_template = TEMPLATE
    return tokenizer


def _vocab() -> dict[str, int]:
    tokens = ["<pad>", "<unk>", "<s>", "</s>", *WORDS, "user", "assistant", ":", *FILLERS]
    return {token: i for i, token in enumerate(tokens)}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tiny-llama")
    vocab = _vocab()
    torch.manual_seed(3)
    config = transformers.LlamaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        bos_token_id=2,
        eos_token_id=3,
        pad_token_id=0,
    )
    transformers.LlamaForCausalLM(config).save_pretrained(directory)
    _tokenizer(vocab).save_pretrained(directory)
    return directory


def _backend(path: Path) -> TransformersBackend:
    backend = TransformersBackend(str(path), threads=1, batch_size=2)
    backend.load()
    return backend


def test_loaded_onto_its_device_by_the_loader(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The weights go straight to the device (a GPU machine makes no host copy first).
    calls: list[dict] = []
    load = transformers.AutoModelForCausalLM.from_pretrained

    def recording(*args: object, **kwargs: object) -> object:
        calls.append(kwargs)
        return load(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", recording)
    backend = _backend(model_dir)
    assert calls and calls[0]["device_map"] == "cpu" == backend.config.device
    assert backend._model.device.type == "cpu"


def test_batch_scores_options_from_raw_logits(model_dir: Path, tmp_path: Path) -> None:
    # A model whose own generation config penalises repeats: generate()'s scores then differ
    # from its logits on the options that occur in the prompt.
    path = tmp_path / "penalised"
    shutil.copytree(model_dir, path)
    generation = json.loads((path / "generation_config.json").read_text())
    generation["repetition_penalty"] = 5.0
    (path / "generation_config.json").write_text(json.dumps(generation))
    backend = _backend(path)
    options = GenerationOptions(max_tokens=1, score_options=OPTIONS, reuse_prefix=False)
    batched = backend.generate_batch(PROMPTS, options)
    ids = option_token_ids(backend.tokenizer, OPTIONS)
    for messages, result in zip(PROMPTS, batched, strict=True):
        prompt = torch.tensor([encode_prompt(backend.tokenizer, messages)])
        with torch.no_grad():
            logits = backend._model(input_ids=prompt).logits[0, -1]
        expected = _gather(torch.log_softmax(logits.float(), dim=-1), ids)
        for option in OPTIONS:
            assert result.option_logprobs[option] == pytest.approx(expected[option], abs=1e-4)
        single = backend.generate(messages, options)
        assert single.option_logprobs == pytest.approx(result.option_logprobs, abs=1e-4)
    # The penalty does move generate()'s scores, so the test can tell the two apart.
    prompt = torch.tensor([encode_prompt(backend.tokenizer, PROMPTS[0])])
    out = backend._model.generate(
        input_ids=prompt,
        max_new_tokens=1,
        do_sample=False,
        output_scores=True,
        output_logits=True,
        return_dict_in_generate=True,
    )
    assert not torch.allclose(out.scores[0], out.logits[0])


def test_batch_honours_stop_strings_like_one_prompt(model_dir: Path) -> None:
    backend = _backend(model_dir)
    options = GenerationOptions(max_tokens=8, reuse_prefix=False)
    single = [backend.generate(messages, options) for messages in PROMPTS]
    assert all(len(g.text.split()) == 8 for g in single)
    batched = backend.generate_batch(PROMPTS, options)
    assert [g.text for g in batched] == [g.text for g in single]
    assert [g.finish_reason for g in batched] == ["length", "length"]

    stop = single[0].text.split()[3]
    stopped = options.model_copy(update={"stop": (f" {stop}",)})
    batched = backend.generate_batch(PROMPTS, stopped)
    single = [backend.generate(messages, stopped) for messages in PROMPTS]
    assert batched[0].text == " ".join(single[0].text.split()[:3]) == single[0].text
    assert batched[0].finish_reason == "stop" == single[0].finish_reason
    assert [g.text for g in batched] == [g.text for g in single]


def test_batch_stops_at_an_end_of_turn_token(model_dir: Path, tmp_path: Path) -> None:
    backend = _backend(model_dir)
    options = GenerationOptions(max_tokens=8, reuse_prefix=False)
    text = backend.generate(PROMPTS[0], options).text
    generated = backend.tokenizer(text, add_special_tokens=False).input_ids
    # The same model with its third answer token renamed to a chat format's end of turn.
    vocab = _vocab()
    name = next(token for token, i in vocab.items() if i == generated[2])
    assert name in FILLERS
    vocab["<|im_end|>"] = vocab.pop(name)
    path = tmp_path / "end-of-turn"
    shutil.copytree(model_dir, path)
    for file in path.glob("tokenizer*"):
        file.unlink()
    _tokenizer(vocab).save_pretrained(path)
    renamed = _backend(path)
    single = renamed.generate(PROMPTS[0], options)
    batched = renamed.generate_batch(PROMPTS, options)[0]
    assert single.text == " ".join(text.split()[:2])
    assert batched.text == single.text
    assert batched.finish_reason == "stop" == single.finish_reason
    assert batched.usage.completion_tokens == single.usage.completion_tokens == 2
