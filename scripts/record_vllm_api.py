"""Record the parts of vLLM's Python API that care's vllm backend uses, from vLLM wheels,
without importing vLLM (no GPU, no CUDA libraries needed).

    pip download vllm==0.28.0 vllm==0.33.0 --no-deps --only-binary :all: -d wheels/
    python scripts/record_vllm_api.py wheels/vllm-0.28.0-*.whl wheels/vllm-0.33.0-*.whl \
        > tests/data/vllm_api.json

Each name list is what every given version has (the intersection), so code checked against
it works on the whole pinned range. ``tests/test_backend_vllm.py`` checks the backend's
keyword arguments against the file where vLLM is not installed.
"""

from __future__ import annotations

import ast
import json
import re
import sys
import zipfile
from pathlib import Path


def _tree(wheel: zipfile.ZipFile, member: str) -> ast.Module:
    return ast.parse(wheel.read(member).decode("utf-8"))


def _class(tree: ast.Module, name: str) -> ast.ClassDef:
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node
    raise LookupError(name)


def _fields(node: ast.ClassDef) -> set[str]:
    """Annotated class attributes (dataclass, msgspec.Struct, TypedDict fields)."""
    return {
        item.target.id
        for item in node.body
        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
    }


def _method_params(node: ast.ClassDef, method: str) -> set[str]:
    for item in node.body:
        if isinstance(item, ast.FunctionDef) and item.name == method:
            args = item.args
            return {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]} - {"self"}
    raise LookupError(method)


def _literal_ints(tree: ast.Module, name: str) -> list[int]:
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
            and isinstance(node.value, ast.Subscript)
        ):
            elements = node.value.slice
            values = elements.elts if isinstance(elements, ast.Tuple) else [elements]
            return [int(v.value) for v in values if isinstance(v, ast.Constant)]
    raise LookupError(name)


def _constant(tree: ast.Module, name: str) -> int:
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
            and isinstance(node.value, ast.Constant)
        ):
            return int(node.value.value)
    raise LookupError(name)


def record(path: Path) -> dict[str, object]:
    """The recorded API of one wheel."""
    version = re.search(r"vllm-([0-9][^-]*)-", path.name)
    with zipfile.ZipFile(path) as wheel:
        sampling = _tree(wheel, "vllm/sampling_params.py")
        llm = _class(_tree(wheel, "vllm/entrypoints/llm.py"), "LLM")
        outputs = _tree(wheel, "vllm/outputs.py")
        lora_config = _tree(wheel, "vllm/config/lora.py")
        lora_request, inputs = "vllm/lora/request.py", "vllm/inputs/llm.py"
        return {
            "version": version.group(1) if version else path.name,
            "SamplingParams": sorted(_fields(_class(sampling, "SamplingParams"))),
            "StructuredOutputsParams": sorted(_fields(_class(sampling, "StructuredOutputsParams"))),
            "MAX_LOGPROB_TOKEN_IDS": _constant(sampling, "MAX_LOGPROB_TOKEN_IDS"),
            "LLM.__init__": sorted(_method_params(llm, "__init__")),
            "LLM.generate": sorted(_method_params(llm, "generate")),
            "EngineArgs": sorted(
                _fields(_class(_tree(wheel, "vllm/engine/arg_utils.py"), "EngineArgs"))
            ),
            "MaxLoRARanks": _literal_ints(lora_config, "MaxLoRARanks"),
            "LoRARequest": sorted(_fields(_class(_tree(wheel, lora_request), "LoRARequest"))),
            "TokensPrompt": sorted(_fields(_class(_tree(wheel, inputs), "TokensPrompt"))),
            "CompletionOutput": sorted(_fields(_class(outputs, "CompletionOutput"))),
            "RequestOutput.__init__": sorted(
                _method_params(_class(outputs, "RequestOutput"), "__init__")
            ),
            "Logprob": sorted(_fields(_class(_tree(wheel, "vllm/logprobs.py"), "Logprob"))),
        }


def main(paths: list[str]) -> None:
    records = [record(Path(p)) for p in paths]
    combined: dict[str, object] = {"versions": [r["version"] for r in records]}
    for key in records[0]:
        if key == "version":
            continue
        values = [r[key] for r in records]
        if isinstance(values[0], list):
            common = set(values[0]).intersection(*map(set, values[1:]))
            public = {v for v in common if not (isinstance(v, str) and v.startswith("_"))}
            combined[key] = sorted(public, key=lambda v: (isinstance(v, str), v))
        else:
            combined[key] = min(values)  # type: ignore[type-var]
    lines = [f"  {json.dumps(key)}: {json.dumps(value)}" for key, value in combined.items()]
    sys.stdout.write("{\n" + ",\n".join(lines) + "\n}\n")


if __name__ == "__main__":
    main(sys.argv[1:])
