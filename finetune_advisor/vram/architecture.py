"""The architecture of a model as its Hugging Face config.json describes it.

Only the fields that decide fine-tuning memory are kept. `from_hf_config` reads a raw config
(nested `text_config` of multimodal models, the different names MoE families use) without ever
deriving a value the config states: `head_dim` in particular is taken as given when present.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from finetune_advisor.errors import InvalidInputError
from finetune_advisor.vocabulary import LIMITS, MAX_CHARS, MAX_ITEMS, bounds, describe_range, list_bounds, text_bounds

# Names different model families use for the same quantity, first match wins.
# An encoder-decoder config names its decoder's sizes decoder_*: they come first, because Whisper also writes
# num_hidden_layers, as its encoder's depth (32 in large-v3-turbo, whose decoder has 4 layers).
_ALIASES: dict[str, tuple[str, ...]] = {
    "num_hidden_layers": ("decoder_layers", "num_hidden_layers", "n_layer", "num_layers"),
    "tie_word_embeddings": ("tie_word_embeddings", "tie_embedding"),  # LFM2's original configs: tie_embedding
    "hidden_size": ("hidden_size", "n_embd", "d_model"),
    # LFM2's original configs write block_ff_dim, which transformers' Lfm2Config takes over intermediate_size.
    "intermediate_size": ("decoder_ffn_dim", "block_ff_dim", "intermediate_size", "ffn_dim", "n_inner"),
    "num_attention_heads": ("decoder_attention_heads", "num_attention_heads", "n_head"),
    "num_key_value_heads": ("num_key_value_heads", "num_kv_heads", "n_head_kv"),
    # ERNIE 4.5 MoE: moe_num_experts / moe_k / moe_num_shared_experts; Gemma 4 MoE: top_k_experts.
    "num_experts": ("num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts"),
    "num_experts_per_tok": ("num_experts_per_tok", "moe_top_k", "num_experts_per_token", "moe_k", "top_k_experts"),
    "moe_intermediate_size": ("moe_intermediate_size", "expert_intermediate_size"),
    "num_shared_experts": ("num_shared_experts", "n_shared_experts", "moe_num_shared_experts"),
    # MoE models whose first layers keep a dense MLP: DeepSeek V3, GLM-4.x MoE and Kimi write first_k_dense_replace,
    # LFM2-MoE num_dense_layers, ERNIE 4.5 moe_layer_start_index (read only where its MoE layers then run to the
    # last layer, moe_layer_end_index; they may skip layers on the way, moe_layer_step).
    "first_dense_layers": ("first_k_dense_replace", "num_dense_layers", "moe_layer_start_index"),
    # MoE models whose routed layers alternate with dense ones, every step-th layer routed (transformers' rule for
    # each: (layer index + 1) % step == 0): Llama 4 writes interleave_moe_layer_step, Qwen2/3-MoE decoder_sparse_step,
    # ERNIE 4.5 moe_layer_interval.
    "moe_layer_step": ("interleave_moe_layer_step", "decoder_sparse_step", "moe_layer_interval"),
    # Granite 4.0-H (granitemoehybrid): shared_intermediate_size; Nemotron-H: moe_shared_expert_intermediate_size.
    "shared_expert_intermediate_size": ("shared_expert_intermediate_size", "shared_intermediate_size",
                                        "moe_shared_expert_intermediate_size"),
    # Mamba-2 mixers: Falcon-H1 and Granite 4.0-H write mamba_*; Nemotron-H writes mamba_num_heads,
    # mamba_head_dim, n_groups and ssm_state_size (its n_group, singular, is the router's).
    "mamba_n_heads": ("mamba_n_heads", "mamba_num_heads"),
    "mamba_d_head": ("mamba_d_head", "mamba_head_dim"),
    "mamba_n_groups": ("mamba_n_groups", "n_groups"),
    "mamba_d_state": ("mamba_d_state", "ssm_state_size"),
    "mamba_chunk_size": ("mamba_chunk_size", "chunk_size"),
}

# Model types whose MLP honours block_auto_adjust_ff_dim (transformers Lfm2MLP; Lfm2MoeMLP takes intermediate_size as
# written, whatever its config says).
_ADJUSTED_MLP_TYPES = ("lfm2",)

# The per-head sizes latent attention needs beside kv_lora_rank (q_lora_rank may be absent: then q_proj is one matrix;
# v_head_dim too: MiniCPM3's configs leave it out and its model takes hidden_size / heads).
_LATENT_SIZES = ("qk_nope_head_dim", "qk_rope_head_dim")

# The sizes of a Gated DeltaNet layer (layer_types "linear_attention"): key heads x key size, value heads x value size.
_LINEAR_SIZES = ("linear_num_key_heads", "linear_key_head_dim", "linear_num_value_heads", "linear_value_head_dim")

# layer_types entries that are softmax attention; any other kind (linear_attention, mamba, conv) makes a hybrid.
ATTENTION_KINDS = frozenset({"full_attention", "attention", "global", "sliding_attention", "local", "chunked_attention"})
# The layer kind of LFM2's short convolutions (a gated 3-tap depthwise convolution between two projections).
SHORT_CONV = "conv"
# Hybrids whose configs list no layer kinds or run Mamba beside attention.
_HYBRID_TYPES = ("nemotron_h", "falcon_h1")
# Nemotron-H lists its layers as one character each (hybrid_override_pattern; transformers NemotronHConfig):
# a layer is a Mamba-2 mixer, attention, a MoE block or an MLP, never two of them.
_PATTERN_KINDS = {"M": "mamba", "*": "attention", "E": "moe", "-": "mlp"}

# Values transformers' config class fills in when a config.json leaves them out, per model type (transformers
# 5.17): Google's Gemma 3 files name only what differs (google/gemma-3-4b-it's text_config has no heads or
# vocabulary: Gemma3TextConfig's defaults); WhisperConfig ties proj_out to the decoder's embedding; GemmaConfig and
# Gemma2Config tie lm_head to the embedding (google/gemma-2-9b's config.json does not say: transformers counts it at
# 9.24B parameters, its published size, with the tie and 10.16B without).
_TYPE_DEFAULTS: dict[str, dict[str, Any]] = {
    "gemma": {"tie_word_embeddings": True},
    "gemma2": {"tie_word_embeddings": True},
    "gemma3_text": {"vocab_size": 262_208, "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256,
                    "max_position_embeddings": 131_072, "tie_word_embeddings": True},
    "whisper": {"tie_word_embeddings": True},
    # Lfm2Config: tied embeddings, and the MLP width adjusted at load unless a config says otherwise.
    "lfm2": {"tie_word_embeddings": True, "block_auto_adjust_ff_dim": True, "block_multiple_of": 256,
             "block_ffn_dim_multiplier": 1.0},
    # Config classes that tie lm_head to the embedding unless a config.json says otherwise (transformers 5.17's
    # CohereConfig, Cohere2Config, SmolLM3Config, Ernie4_5Config, Ernie4_5_MoeConfig, Lfm2MoeConfig, Gemma3nTextConfig,
    # Gemma4TextConfig, Gemma4UnifiedTextConfig: tie_word_embeddings = True). Command R 08-2024's config.json does not
    # say, and read as untied it grew a 2.1B-parameter output layer it does not have.
    **dict.fromkeys(("cohere", "cohere2", "smollm3", "ernie4_5", "ernie4_5_moe", "lfm2_moe", "gemma3n_text",
                     "gemma4_text", "gemma4_unified_text"), {"tie_word_embeddings": True}),
    # Llama4TextMoe builds a shared expert in every routed layer; Llama 4's configs have no field for it.
    "llama4": {"num_shared_experts": 1},
    "llama4_text": {"num_shared_experts": 1},
}

# Sub-configs that hold the language model of multimodal and wrapper configs.
_TEXT_CONFIG_KEYS = ("text_config", "language_config", "llm_config", "thinker_config")

# Speech encoder-decoders the estimator knows the layout of (transformers WhisperForConditionalGeneration: a
# conv front-end and encoder over audio frames, a decoder with cross-attention, proj_out tied to the decoder's
# embedding, which WhisperConfig ties by default), and the config fields their encoder needs.
ENCODER_DECODER = ("whisper",)
ENCODER_FIELDS = ("encoder_layers", "encoder_attention_heads", "encoder_ffn_dim", "max_source_positions",
                  "num_mel_bins", "max_target_positions")


def _sized(name: str, *default: None) -> Any:
    """A config.json size field: an integer (strictly: `true` is not 1) within its bounds in vocabulary.LIMITS."""
    return Field(*default, strict=True, **bounds(name))


class Architecture(BaseModel):
    """Config fields that decide fine-tuning memory (names as in HF config.json)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_type: str = Field(min_length=1, **text_bounds("model_type"))
    num_hidden_layers: int = _sized("num_hidden_layers")
    hidden_size: int = _sized("hidden_size")
    intermediate_size: int | None = _sized("intermediate_size", None)
    num_attention_heads: int = _sized("num_attention_heads")
    num_key_value_heads: int | None = _sized("num_key_value_heads", None)
    head_dim: int | None = _sized("head_dim", None)
    vocab_size: int = _sized("vocab_size")
    tie_word_embeddings: bool = False
    max_position_embeddings: int | None = _sized("max_position_embeddings", None)
    sliding_window: int | None = _sized("sliding_window", None)  # attention window of sliding-window models (Mistral v0.1)
    # Llama 4's chunked local attention (transformers Llama4TextConfig): its chunked layers attend within blocks of this
    # many tokens; a step within one chunk is plain causal attention (plan.throughput.slow_attention)
    attention_chunk_size: int | None = _sized("attention_chunk_size", None)
    num_experts: int | None = _sized("num_experts", None)
    num_experts_per_tok: int | None = _sized("num_experts_per_tok", None)
    moe_intermediate_size: int | None = _sized("moe_intermediate_size", None)
    num_shared_experts: int | None = _sized("num_shared_experts", None)
    shared_expert_intermediate_size: int | None = _sized("shared_expert_intermediate_size", None)
    # Of a MoE model, how many of the first layers have a dense MLP (intermediate_size wide) instead of experts,
    # and of the rest, every how many layers one is routed (Llama 4 Maverick: 2; the others dense).
    first_dense_layers: int | None = _sized("first_dense_layers", None)
    moe_layer_step: int | None = _sized("moe_layer_step", None)
    # The dense layers' MLP width where it is not intermediate_size (Llama 4, whose intermediate_size is the experts').
    intermediate_size_mlp: int | None = _sized("intermediate_size_mlp", None)
    # Per-layer embeddings (Gemma 3n, Gemma 4 E2B/E4B): a vocab_size_per_layer_input x
    # (num_hidden_layers * hidden_size_per_layer_input) table beside the main embedding.
    hidden_size_per_layer_input: int | None = _sized("hidden_size_per_layer_input", None)
    vocab_size_per_layer_input: int | None = _sized("vocab_size_per_layer_input", None)
    # The last num_kv_shared_layers layers reuse an earlier layer's keys and values (Gemma 3n, Gemma 4).
    # Gemma 4 builds no k/v projections for them and, with use_double_wide_mlp, doubles their MLP width
    # (transformers 5 modeling_gemma4; Gemma 3n keeps its k/v projections).
    num_kv_shared_layers: int | None = _sized("num_kv_shared_layers", None)
    use_double_wide_mlp: bool = False
    # Gemma 4's full-attention layers: their own head size, and with attention_k_eq_v, keys that are the
    # values (no v_proj) over num_global_key_value_heads heads.
    global_head_dim: int | None = _sized("global_head_dim", None)
    num_global_key_value_heads: int | None = _sized("num_global_key_value_heads", None)
    attention_k_eq_v: bool = False
    # A Mamba-2 mixer (Falcon-H1's beside attention in every layer, Granite 4.0-H's and Nemotron-H's in the
    # layers listed as mamba): its width (mamba_d_ssm, else heads x head size), heads, B/C groups and state
    # size set the in_proj and out_proj matrices.
    mamba_d_ssm: int | None = _sized("mamba_d_ssm", None)
    mamba_n_heads: int | None = _sized("mamba_n_heads", None)
    mamba_d_head: int | None = _sized("mamba_d_head", None)
    mamba_n_groups: int | None = _sized("mamba_n_groups", None)
    mamba_d_state: int | None = _sized("mamba_d_state", None)
    # ... and the tokens its chunked scan takes at a time (Granite 4.0-H 256, Nemotron-H 128): which of mamba_ssm's
    # Triton kernels spill registers follows it (local_memory.mamba2_stack_bytes).
    mamba_chunk_size: int | None = _sized("mamba_chunk_size", None)
    # Gated DeltaNet, Qwen3.5's linear attention (transformers Qwen3_5GatedDeltaNet), in the layers listed as
    # linear_attention: key heads x key size and value heads x value size set its projections.
    linear_num_key_heads: int | None = _sized("linear_num_key_heads", None)
    linear_key_head_dim: int | None = _sized("linear_key_head_dim", None)
    linear_num_value_heads: int | None = _sized("linear_num_value_heads", None)
    linear_value_head_dim: int | None = _sized("linear_value_head_dim", None)
    # Multi-head latent attention (DeepSeek V2/V3, Kimi K2, GLM-4.7-Flash; transformers DeepseekV3Attention): queries
    # through a q_lora_rank latent (none: one q_proj), keys and values through one kv_lora_rank latent plus a shared
    # rope key; each head's query and key are qk_nope_head_dim + qk_rope_head_dim wide, its value v_head_dim.
    q_lora_rank: int | None = _sized("q_lora_rank", None)
    kv_lora_rank: int | None = _sized("kv_lora_rank", None)
    qk_nope_head_dim: int | None = _sized("qk_nope_head_dim", None)
    qk_rope_head_dim: int | None = _sized("qk_rope_head_dim", None)
    v_head_dim: int | None = _sized("v_head_dim", None)
    # LFM2 builds its MLP narrower than intermediate_size when block_auto_adjust_ff_dim is set (transformers Lfm2MLP:
    # 2/3 of it, then with block_ffn_dim_multiplier given, times that, rounded up to block_multiple_of).
    block_auto_adjust_ff_dim: bool = False
    block_multiple_of: int | None = _sized("block_multiple_of", None)
    block_ffn_dim_multiplier: float | None = Field(default=None, gt=0, le=1024)
    # Qwen3.5's full-attention layers gate their output: q_proj also produces the gate (twice its width).
    attn_output_gate: bool = False
    # The kind of each layer where a config lists them (sliding/full attention, linear attention, mamba).
    layer_types: tuple[Annotated[str, Field(**text_bounds("layer_types"))], ...] | None = Field(
        default=None, **list_bounds("layer_types")
    )
    # Gemma 2 / 3n / 4 cap the final logits with tanh; Unsloth's loss then keeps more per token.
    final_logit_softcapping: float | None = Field(default=None, gt=0)
    # The weight of a MoE router's auxiliary loss, where the config gives it: trl turns that loss on when it is not 0,
    # and on Unsloth the first step then holds more (families.router_trial_kept).
    router_aux_loss_coef: float | None = Field(default=None, ge=0, le=1000)
    # The speech encoder of an encoder-decoder (Whisper; model_type in ENCODER_DECODER): its depth, heads and
    # MLP width, the frames it runs over (max_source_positions: 1500 for 30 s), its input channels (mel bins);
    # and the decoder's token limit (max_target_positions: 448). The decoder is described by the fields above.
    encoder_layers: int | None = _sized("encoder_layers", None)
    encoder_attention_heads: int | None = _sized("encoder_attention_heads", None)
    encoder_ffn_dim: int | None = _sized("encoder_ffn_dim", None)
    max_source_positions: int | None = _sized("max_source_positions", None)
    num_mel_bins: int | None = _sized("num_mel_bins", None)
    max_target_positions: int | None = _sized("max_target_positions", None)

    @model_validator(mode="after")
    def _encoder_fields_match_the_type(self) -> Architecture:
        """An encoder-decoder model type has every encoder field; any other has none (they would be ignored)."""
        given = [name for name in ENCODER_FIELDS if getattr(self, name) is not None]
        if self.is_encoder_decoder and len(given) < len(ENCODER_FIELDS):
            missing = ", ".join(name for name in ENCODER_FIELDS if name not in given)
            raise ValueError(f"model_type {self.model_type!r} is an encoder-decoder; missing {missing}")
        if not self.is_encoder_decoder and given:
            raise ValueError(f"{', '.join(given)} describe the speech encoder of model_type "
                             f"{' or '.join(ENCODER_DECODER)}, not of {self.model_type!r}")
        return self

    @model_validator(mode="after")
    def _dense_layers_leave_experts(self) -> Architecture:
        """first_dense_layers and moe_layer_step leave at least one of a MoE model's layers routed."""
        if self.is_moe and self.dense_mlp_layers >= self.num_hidden_layers:
            raise ValueError(f"first_dense_layers {self.first_dense_layers or 0} and moe_layer_step "
                             f"{self.moe_layer_step or 1} leave none of the {self.num_hidden_layers} layers with "
                             "experts; give fewer dense layers or a smaller step")
        return self

    @model_validator(mode="after")
    def _routing_picks_among_the_experts(self) -> Architecture:
        """A token is routed to at most every expert."""
        if self.num_experts and self.num_experts_per_tok and self.num_experts_per_tok > self.num_experts:
            raise ValueError(f"num_experts_per_tok {self.num_experts_per_tok} is more than num_experts "
                             f"{self.num_experts}")
        return self

    @model_validator(mode="after")
    def _key_value_heads_divide_the_heads(self) -> Architecture:
        """Each key/value head is shared by a whole group of query heads."""
        kv = self.num_key_value_heads
        if kv and (kv > self.num_attention_heads or self.num_attention_heads % kv):
            raise ValueError(f"num_key_value_heads {kv} does not divide num_attention_heads "
                             f"{self.num_attention_heads} (each key/value head serves a whole group of query heads)")
        return self

    @model_validator(mode="after")
    def _latent_attention_has_its_sizes(self) -> Architecture:
        """kv_lora_rank makes the attention latent, whose projections need every per-head size."""
        missing = [name for name in _LATENT_SIZES if not getattr(self, name)]
        if self.kv_lora_rank and missing:
            raise ValueError(f"kv_lora_rank {self.kv_lora_rank} describes latent attention, whose sizes are missing: "
                             f"{', '.join(missing)}")
        return self

    @model_validator(mode="after")
    def _heads_fit_the_width(self) -> Architecture:
        """Without head_dim, each head is hidden_size / num_attention_heads wide: at least one."""
        if not self.head_dim and self.hidden_size < self.num_attention_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is smaller than num_attention_heads "
                             f"{self.num_attention_heads}, so a head would be 0 wide; give head_dim")
        return self

    @model_validator(mode="after")
    def _linear_layers_have_their_sizes(self) -> Architecture:
        """Layers listed as linear_attention need the Gated DeltaNet sizes that shape their projections; without them
        the projections would be dropped from the count (Qwen3.8-27B's catalog entry lost 17 % of its estimate so)."""
        linear = sum(kind == "linear_attention" for kind in self.layer_types or ())
        missing = [name for name in _LINEAR_SIZES if not getattr(self, name)]
        if linear and missing:
            raise ValueError(f"layer_types lists {linear} linear_attention layers, whose sizes are missing: "
                             f"{', '.join(missing)}")
        return self

    @property
    def is_encoder_decoder(self) -> bool:
        return self.model_type in ENCODER_DECODER

    @property
    def kv_heads(self) -> int:
        return self.num_key_value_heads or self.num_attention_heads

    @property
    def attention_head_dim(self) -> int:
        """The width of a head's query and key: with latent attention qk_nope_head_dim + qk_rope_head_dim (its
        configs' head_dim, where written, is the rope part's); else the config's head_dim when given, else
        hidden_size / heads (the HF default)."""
        if self.is_latent_attention:
            return (self.qk_nope_head_dim or 0) + (self.qk_rope_head_dim or 0)
        return self.head_dim or self.hidden_size // self.num_attention_heads

    @property
    def mlp_width(self) -> int:
        """The dense MLP's width as transformers builds it: intermediate_size (4 x hidden_size where a config has none),
        narrowed by LFM2's block_auto_adjust_ff_dim (LFM2-350M's 6,656 is built 4,608 wide; its count then matches the
        card's 354,483,968)."""
        width = self.intermediate_size or 4 * self.hidden_size
        if not (self.block_auto_adjust_ff_dim and self.model_type in _ADJUSTED_MLP_TYPES):
            return width
        width = int(2 * width / 3)
        if self.block_ffn_dim_multiplier is not None:
            multiple = self.block_multiple_of or 1
            width = multiple * -(-int(self.block_ffn_dim_multiplier * width) // multiple)
        return width

    @property
    def is_latent_attention(self) -> bool:
        return bool(self.kv_lora_rank)

    @property
    def value_head_dim(self) -> int:
        """The width of a head's value: v_head_dim with latent attention (hidden_size / heads where a config has none,
        as MiniCPM3's model takes it), else the head's width."""
        if self.is_latent_attention:
            return self.v_head_dim or self.hidden_size // self.num_attention_heads
        return self.attention_head_dim

    @property
    def dense_mlp_layers(self) -> int:
        """Of a MoE model, how many layers hold a dense MLP instead of experts: the first first_dense_layers, and of
        the rest each whose index + 1 is not a multiple of moe_layer_step; 0 for a dense model."""
        if not self.is_moe:
            return 0
        step, first = self.moe_layer_step or 1, self.first_dense_layers or 0
        return self.num_hidden_layers - sum((i + 1) % step == 0 for i in range(first, self.num_hidden_layers))

    @property
    def is_moe(self) -> bool:
        return bool(self.num_experts and self.num_experts > 1)

    @property
    def mamba_width(self) -> int:
        """The Mamba-2 mixer's inner width (mamba_d_ssm), 0 for a model without one."""
        return self.mamba_d_ssm or (self.mamba_n_heads or 0) * (self.mamba_d_head or 0)

    @property
    def mamba_head(self) -> int | None:
        """The Mamba-2 mixer's head size (mamba_d_head, else its width over its heads); None where neither is known."""
        return self.mamba_d_head or (self.mamba_width // self.mamba_n_heads if self.mamba_n_heads else None)

    @property
    def mixer_kinds(self) -> frozenset[str]:
        """The kinds of this hybrid's layers that mix tokens without softmax attention (linear_attention, mamba,
        conv; Nemotron-H's MoE and MLP layers mix none), empty for a model without them."""
        kinds = {k for k in self.layer_types or () if k not in ATTENTION_KINDS and k not in ("moe", "mlp")}
        return frozenset(kinds | ({"mamba"} if self.model_type.startswith(_HYBRID_TYPES) or self.mamba_width else set()))

    @property
    def is_hybrid(self) -> bool:
        """Some layers are linear attention, Mamba or convolution instead of softmax attention."""
        return bool(self.mixer_kinds)

    @classmethod
    def from_hf_config(cls, config: dict[str, Any], field: str = "architecture") -> Architecture:
        """Read a config.json dict; raise InvalidInputError naming what is missing."""
        if not isinstance(config, dict):
            raise InvalidInputError(field, "expected an object with the fields of a config.json", "a JSON object")
        text = _language_config(config)
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            for key in _ALIASES.get(name, (name,)):
                if text.get(key) is not None:
                    values[name] = text[key]
                    break
        if "layer_types" not in values and (kinds := _layer_kinds(text, values.get("num_hidden_layers"))):
            values["layer_types"] = kinds
        if "model_type" not in values and config.get("model_type"):
            values["model_type"] = config["model_type"]
        if "tie_word_embeddings" not in values and "tie_word_embeddings" in config:
            values["tie_word_embeddings"] = config["tie_word_embeddings"]
        kind = values.get("model_type") if isinstance(values.get("model_type"), str) else ""  # else pydantic says so
        values = {**_TYPE_DEFAULTS.get(kind, {}), **values}
        if kind not in ENCODER_DECODER:
            for name in ENCODER_FIELDS:
                values.pop(name, None)  # BART-style text encoder-decoders: only their decoder is described
        if text.get("use_sliding_window") is False:
            values.pop("sliding_window", None)  # Qwen configs carry a window they do not use
        if "moe_layer_start_index" in text and not _moe_runs_to_the_end(text, values):
            for name in ("first_dense_layers", "moe_layer_step"):  # MoE layers that stop early: counted as all MoE
                values.pop(name, None)
        if isinstance(values.get("num_experts"), int) and values["num_experts"] <= 1:
            values.pop("num_experts")  # dense models sometimes write num_experts: 0
        for name, value in list(values.items()):
            if name != "layer_types" and isinstance(value, list) and value and all(isinstance(v, int) for v in value):
                values[name] = max(value)  # per-layer sizes (Gemma 3n's intermediate_size): the widest layer
        for name in ("hidden_size_per_layer_input", "vocab_size_per_layer_input"):
            if values.get(name) == 0:
                values.pop(name)  # Gemma 4 configs without per-layer embeddings write 0
        required = ("model_type", "num_hidden_layers", "hidden_size", "num_attention_heads", "vocab_size")
        if kind in ENCODER_DECODER:
            required += ENCODER_FIELDS
        missing = [name for name in required if name not in values]
        if missing:
            raise InvalidInputError(
                field,
                "missing " + ", ".join(missing),
                "the fields of a Hugging Face config.json: model_type, num_hidden_layers, hidden_size, "
                "intermediate_size, num_attention_heads, num_key_value_heads, head_dim, vocab_size, "
                "tie_word_embeddings; for MoE models, num_experts, num_experts_per_tok, moe_intermediate_size; "
                "for Whisper, d_model, decoder_layers, decoder_attention_heads, decoder_ffn_dim and "
                + ", ".join(ENCODER_FIELDS),
            )
        try:
            return cls.model_validate(values)
        except ValueError as exc:  # pydantic.ValidationError is a ValueError
            raise InvalidInputError(field, *_first_error(exc)) from None


def _layer_kinds(text: dict[str, Any], layers: Any) -> list[str] | None:
    """The kind of each layer where a config lists them otherwise than as layer_types: Nemotron-H's
    hybrid_override_pattern (one character a layer), LFM2's full_attn_idxs (its attention layers; the rest are
    convolutions, as Lfm2Config builds them)."""
    pattern = text.get("hybrid_override_pattern")
    if isinstance(pattern, str) and pattern and set(pattern) <= set(_PATTERN_KINDS):
        return [_PATTERN_KINDS[c] for c in pattern]
    attention_at = text.get("full_attn_idxs")
    if isinstance(attention_at, list) and type(layers) is int:
        attention = {i for i in attention_at if type(i) is int}
        return ["full_attention" if i in attention else SHORT_CONV for i in range(min(layers, LIMITS["num_hidden_layers"][1]))]
    return None


def _moe_runs_to_the_end(text: dict[str, Any], values: dict[str, Any]) -> bool:
    """Whether an ERNIE-style config's MoE layers run from moe_layer_start_index to the last layer."""
    end, layers = text.get("moe_layer_end_index", -1), values.get("num_hidden_layers")
    return end in (-1, None, layers - 1 if isinstance(layers, int) else None)


def _language_config(config: dict[str, Any]) -> dict[str, Any]:
    """The dict holding the language model's fields; top-level values fill the gaps."""
    for key in _TEXT_CONFIG_KEYS:
        sub = config.get(key)
        if isinstance(sub, dict) and any(alias in sub for alias in _ALIASES["hidden_size"]):
            return {**config, **{k: v for k, v in sub.items() if v is not None}}
    return config


def _first_error(exc: Exception) -> tuple[str, str]:
    """(what is wrong, what is accepted) for the first field pydantic refused, named as in config.json."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc), "positive integers for the size fields"
    first = errors()[0]
    loc = [str(p) for p in first.get("loc", ())]
    msg = str(first.get("msg", "invalid value"))
    if not loc:  # a check across fields (model validators): their own sentence says what to change
        return msg.removeprefix("Value error, "), "a config.json whose fields agree with each other"
    name = loc[0]
    got = json.dumps(first.get("input"), default=str)
    problem = f"{'.'.join(loc) or name} is {got if len(got) <= 40 else got[:37] + '...'} ({msg[:1].lower() + msg[1:]})"
    if name in LIMITS:
        return problem, f"for {name}, an integer from {describe_range(name)}"
    if name == "model_type":
        return problem, 'the model_type string of a config.json, e.g. "llama"'
    if name in MAX_ITEMS:
        return problem, f"for {name}, a list of at most {MAX_ITEMS[name]} names of at most {MAX_CHARS[name]} characters"
    return problem, "positive integers for the size fields"
