"""A transformer described by its HuggingFace config.json: shapes and parameter counts.

Understood: dense decoders (MHA/GQA, gated or plain MLP), MoE (routed + shared experts,
first-k-dense layers, top-k; DeepSeek, Mixtral, Qwen-MoE and gpt-oss keys), MLA (DeepSeek-V3),
multi-token-prediction layers, tied embeddings, sliding-window layers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from podwright.errors import InputError
from podwright.specs.catalog import load_model_config

GATED_ACTS = {"silu", "swiglu", "geglu", "swish"}


@dataclass(frozen=True)
class ModelSpec:
    name: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    vocab: int
    gated: bool
    tied: bool
    bias: bool = False
    # MLA (DeepSeek-V3): low-rank query/key-value projections
    mla: bool = False
    q_lora: int = 0
    kv_lora: int = 0
    rope_dim: int = 0
    nope_dim: int = 0
    v_dim: int = 0
    # MoE
    experts: int = 0
    top_k: int = 0
    shared_experts: int = 0
    expert_ffn: int = 0
    shared_ffn: int = 0
    dense_layers: int = 0  # layers with a dense MLP (the rest are MoE when experts > 0)
    mtp_layers: int = 0
    sliding_window: int = 0
    sliding_layers: int = 0
    learned_positions: int = 0  # GPT-style learned position embeddings (rows)

    # ---- shapes -------------------------------------------------------------------------
    @property
    def moe(self) -> bool:
        return self.experts > 0

    @property
    def moe_layers(self) -> int:
        return self.layers - self.dense_layers if self.moe else 0

    @property
    def qk_head_dim(self) -> int:
        return self.nope_dim + self.rope_dim if self.mla else self.head_dim

    # ---- parameters per piece -----------------------------------------------------------
    @cached_property
    def attn_params(self) -> int:
        h = self.hidden
        if self.mla:
            qk = self.heads * self.qk_head_dim
            q = h * self.q_lora + self.q_lora + self.q_lora * qk if self.q_lora else h * qk
            kv = h * (self.kv_lora + self.rope_dim) + self.kv_lora
            kv += self.kv_lora * self.heads * (self.nope_dim + self.v_dim)
            return q + kv + self.heads * self.v_dim * h
        d = self.head_dim
        p = h * self.heads * d + 2 * h * self.kv_heads * d + self.heads * d * h
        if self.bias:
            p += self.heads * d + 2 * self.kv_heads * d + h
        return p

    def mlp_params(self, width: int) -> int:
        mats = 3 if self.gated else 2
        p = mats * self.hidden * width
        if self.bias:
            p += (2 if self.gated else 1) * width + self.hidden
        return p

    @cached_property
    def dense_mlp_params(self) -> int:
        return self.mlp_params(self.ffn)

    @cached_property
    def expert_params(self) -> int:
        """One routed expert."""
        return self.mlp_params(self.expert_ffn)

    @cached_property
    def shared_params(self) -> int:
        return self.mlp_params(self.shared_ffn) if self.shared_ffn else 0

    @cached_property
    def router_params(self) -> int:
        return self.hidden * self.experts + (self.experts if self.bias else 0)

    @property
    def norm_params(self) -> int:
        return 2 * self.hidden

    @cached_property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden + self.learned_positions * self.hidden

    @cached_property
    def head_params(self) -> int:
        return 0 if self.tied else self.vocab * self.hidden

    def layer_params(self, moe_layer: bool, active: bool = False) -> int:
        p = self.attn_params + self.norm_params
        if moe_layer:
            n = self.top_k if active else self.experts
            p += n * self.expert_params + self.shared_params + self.router_params
        else:
            p += self.dense_mlp_params
        return p

    # ---- totals -------------------------------------------------------------------------
    @cached_property
    def params(self) -> int:
        """Total parameters of the main model (MTP modules excluded)."""
        body = self.dense_layers * self.layer_params(False) if self.moe else 0
        body += (self.layers - (self.dense_layers if self.moe else 0)) * self.layer_params(self.moe)
        return body + self.embedding_params + self.head_params + self.hidden

    @cached_property
    def active_params(self) -> int:
        """Parameters that touch one token, embedding included."""
        body = self.dense_layers * self.layer_params(False) if self.moe else 0
        body += (self.layers - (self.dense_layers if self.moe else 0)) * self.layer_params(
            self.moe, active=True
        )
        return body + self.embedding_params + self.head_params + self.hidden

    @property
    def active_params_no_embedding(self) -> int:
        """Activated parameters without the input embedding (a lookup, no FLOPs)."""
        tied_head = self.vocab * self.hidden if self.tied else 0
        return self.active_params - self.embedding_params + tied_head

    @cached_property
    def matmul_params_per_token(self) -> int:
        """Parameters that take part in a matmul for one token (no embedding lookup, no norms);
        the LM head counts (tied or not). 2x this is the forward GEMM FLOPs per token."""
        dense = self.attn_params + self.dense_mlp_params
        moe = self.attn_params + self.top_k * self.expert_params + self.shared_params
        moe += self.router_params
        n_dense = self.dense_layers if self.moe else self.layers
        return n_dense * dense + self.moe_layers * moe + self.vocab * self.hidden


def _get(cfg: dict, *keys, default=None):
    for k in keys:
        if k in cfg and cfg[k] is not None:
            return cfg[k]
    return default


def model_from_config(cfg: dict, name: str = "model") -> ModelSpec:
    """Build a ModelSpec from HF config.json keys (Llama-style defaults for missing keys)."""
    try:
        h = int(cfg["hidden_size"])
        layers = int(cfg["num_hidden_layers"])
        heads = int(cfg["num_attention_heads"])
    except KeyError as e:
        raise InputError(f"model.{e.args[0]}", "missing required key") from None
    except (TypeError, ValueError):
        raise InputError(
            "model", "hidden_size, num_hidden_layers, num_attention_heads must be integers"
        ) from None
    for key, v in (
        ("hidden_size", h),
        ("num_hidden_layers", layers),
        ("num_attention_heads", heads),
    ):
        if v <= 0:
            raise InputError(f"model.{key}", f"must be positive (got {v})")
    if h % heads and "head_dim" not in cfg:
        raise InputError("model.num_attention_heads", f"{heads} does not divide hidden_size {h}")
    kv = int(_get(cfg, "num_key_value_heads", default=heads))
    if kv <= 0 or heads % kv:
        raise InputError(
            "model.num_key_value_heads", f"{kv} must divide num_attention_heads {heads}"
        )
    act = str(_get(cfg, "hidden_act", "activation_function", default="silu")).lower()
    gated = act in GATED_ACTS or bool(cfg.get("gated_mlp"))
    ffn = int(_get(cfg, "intermediate_size", "ffn_hidden_size", default=4 * h))
    experts = int(_get(cfg, "n_routed_experts", "num_local_experts", "num_experts", default=0))
    top_k = int(_get(cfg, "num_experts_per_tok", "experts_per_token", "moe_topk", default=0))
    if experts and not top_k:
        raise InputError("model.num_experts_per_tok", "MoE model needs a top-k")
    if experts and top_k > experts:
        raise InputError("model.num_experts_per_tok", f"{top_k} exceeds {experts} experts")
    expert_ffn = int(_get(cfg, "moe_intermediate_size", default=ffn)) if experts else 0
    shared = int(_get(cfg, "n_shared_experts", default=0)) if experts else 0
    shared_ffn = int(_get(cfg, "shared_expert_intermediate_size", default=0))
    if shared and not shared_ffn:
        shared_ffn = shared * expert_ffn
    dense_layers = 0
    if experts:
        first_k = int(_get(cfg, "first_k_dense_replace", default=0))
        freq = int(_get(cfg, "moe_layer_freq", "decoder_sparse_step", default=1)) or 1
        mlp_only = set(cfg.get("mlp_only_layers") or [])
        moe_layers = [
            i
            for i in range(layers)
            if i >= first_k and (i - first_k) % freq == 0 and i not in mlp_only
        ]
        dense_layers = layers - len(moe_layers)
    mla = bool(cfg.get("kv_lora_rank"))
    layer_types = cfg.get("layer_types") or []
    sliding = sum(1 for t in layer_types if "sliding" in str(t))
    window = int(_get(cfg, "sliding_window", default=0) or 0)
    if window and not layer_types:
        sliding = layers  # Mistral-style: every layer windowed
    model_type = str(cfg.get("model_type", ""))
    learned = int(cfg.get("max_position_embeddings", 0)) if model_type in ("gpt3", "gpt2") else 0
    return ModelSpec(
        name=name,
        hidden=h,
        layers=layers,
        heads=heads,
        kv_heads=kv,
        head_dim=int(_get(cfg, "head_dim", default=h // heads)),
        ffn=ffn,
        vocab=int(_get(cfg, "vocab_size", "padded_vocab_size", default=32000)),
        gated=gated,
        tied=bool(cfg.get("tie_word_embeddings", False)),
        bias=bool(cfg.get("attention_bias", False)) and model_type in ("gpt_oss", "gpt3", "gpt2"),
        mla=mla,
        q_lora=int(_get(cfg, "q_lora_rank", default=0) or 0),
        kv_lora=int(_get(cfg, "kv_lora_rank", default=0) or 0),
        rope_dim=int(_get(cfg, "qk_rope_head_dim", default=0) or 0),
        nope_dim=int(_get(cfg, "qk_nope_head_dim", default=0) or 0),
        v_dim=int(_get(cfg, "v_head_dim", default=0) or 0),
        experts=experts,
        top_k=top_k,
        shared_experts=shared,
        expert_ffn=expert_ffn,
        shared_ffn=shared_ffn,
        dense_layers=dense_layers,
        mtp_layers=int(_get(cfg, "num_nextn_predict_layers", default=0) or 0),
        sliding_window=window,
        sliding_layers=sliding if window else 0,
        learned_positions=learned,
    )


def load_model(model: str | dict) -> ModelSpec:
    """A model from a catalog name, a path to a config.json, or an inline mapping of keys."""
    if isinstance(model, dict):
        return model_from_config(model, str(model.get("_name_or_path", "inline")))
    if not isinstance(model, str):
        raise InputError("model", "must be a catalog name, a config.json path or a mapping")
    return model_from_config(load_model_config(model), model)
