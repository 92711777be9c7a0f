"""Models from HF configs: parameter counts against published figures, FLOPs per token."""

import pytest

from podwright.errors import InputError
from podwright.workload.inference import kv_bytes_per_token
from podwright.workload.model import load_model
from podwright.workload.training import model_flops_per_token

# (model, published total, published activated, which activated convention the publisher uses)
# "with": embedding counted; "without": input embedding left out (LM head counted).
PUBLISHED = [
    ("deepseek-v3", 671e9, 36.6e9, "without"),  # DeepSeek-V3 README_WEIGHTS.md: 671B / 36.6B
    ("llama-3.1-405b", 405e9, None, None),  # Llama 3 Herd, Table 3
    ("mixtral-8x22b", 141e9, 39e9, "with"),  # Mistral AI announcement, Apr 2024
    ("mixtral-8x7b", 46.7e9, 12.9e9, "with"),  # Mistral AI blog, Dec 2023
    ("qwen3-235b-a22b", 235e9, 22e9, "with"),  # Qwen3 model card
    ("gpt-oss-120b", 116.83e9, 5.13e9, "without"),  # OpenAI model card, Table 1
    ("llama-2-70b", 68.98e9, None, None),  # released weights (HF metadata)
    ("llama-3.1-8b", 8.03e9, None, None),
    ("llama-3.1-70b", 70.6e9, None, None),
    ("gpt3-175b", 175e9, None, None),  # Brown et al. 2020, Table 2.1
    ("nemotron-4-340b", 341e9, None, None),
    ("qwen3-30b-a3b", 30.5e9, None, None),  # activated 3.3B is rounded beyond 1%
]


@pytest.mark.parametrize("name, total, active, convention", PUBLISHED)
def test_parameters_match_published(name, total, active, convention):
    m = load_model(name)
    assert m.params == pytest.approx(total, rel=0.01)
    if active:
        got = m.active_params if convention == "with" else m.active_params_no_embedding
        assert got == pytest.approx(active, rel=0.01)


def test_deepseek_structure():
    m = load_model("deepseek-v3")
    assert m.mla and m.moe and m.experts == 256 and m.top_k == 8
    assert m.dense_layers == 3 and m.moe_layers == 58 and m.mtp_layers == 1


def test_flops_per_token_palm_formula():
    """6N + 12 L H Q T (PaLM, appendix B) for a dense GPT."""
    m = load_model("gpt3-175b")
    s = 2048
    n = m.matmul_params_per_token
    assert model_flops_per_token(m, s) == pytest.approx(6 * n + 12 * 96 * 96 * 128 * s)
    # Megatron's formula 72 l h^2 (1 + s/6h + V/12lh) per token without recompute
    layers, h, V = 96, 12288, 50257
    megatron = 72 * layers * h * h * (1 + s / (6 * h) + V / (12 * layers * h))
    assert model_flops_per_token(m, s) == pytest.approx(megatron, rel=0.01)


def test_kv_cache_bytes_per_token():
    # GQA: 2 (K and V) x 8 KV heads x 128 head dim x 80 layers x 2 bytes
    assert kv_bytes_per_token(load_model("llama-3.1-70b"), "bf16") == 2 * 8 * 128 * 80 * 2
    # MLA: (kv_lora_rank 512 + rope 64) x 61 layers x 2 bytes
    assert kv_bytes_per_token(load_model("deepseek-v3"), "bf16") == (512 + 64) * 61 * 2
    assert kv_bytes_per_token(load_model("deepseek-v3"), "fp8") == (512 + 64) * 61


def test_inline_model_defaults():
    m = load_model({"hidden_size": 4096, "num_hidden_layers": 2, "num_attention_heads": 32})
    assert m.kv_heads == 32 and m.ffn == 4 * 4096 and m.gated


@pytest.mark.parametrize(
    "cfg, field",
    [
        ({"num_hidden_layers": 2, "num_attention_heads": 32}, "model.hidden_size"),
        ({"hidden_size": -5, "num_hidden_layers": 2, "num_attention_heads": 1}, "model.hidden_size"),
        ({"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 8, "num_key_value_heads": 3},
         "model.num_key_value_heads"),
    ],
)  # fmt: skip
def test_bad_inline_model(cfg, field):
    with pytest.raises(InputError) as e:
        load_model(cfg)
    assert e.value.field == field
