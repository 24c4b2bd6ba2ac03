"""Parameter counts and tensor widths of a model, from its `Architecture`.

Pure arithmetic on the config fields, used by the VRAM estimator. `head_dim` is taken as the
config states it (Qwen3, Gemma 2/3/4, Mistral Nemo and gpt-oss set one that differs from
hidden_size / heads); only when a config omits it is it derived, the way transformers does.
A speech encoder-decoder (Whisper) is its decoder, as for a decoder-only model, plus an `Encoder`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from finetune_advisor.vocabulary import ALL_LINEAR
from finetune_advisor.vram.architecture import ATTENTION_KINDS, SHORT_CONV, Architecture

# The LoRA target names peft and Unsloth use for the linear layers of attention and the MLP.
ATTENTION_MODULES: tuple[str, ...] = ALL_LINEAR[:4]  # q, k, v, o
MLP_MODULES: tuple[str, ...] = ALL_LINEAR[4:]  # gate, up, down

# Model types whose MLP is two matrices (fc1, fc2) instead of gate/up/down.
_UNGATED_MLP = frozenset({"apertus", "gpt2", "gpt_neox", "gpt_bigcode", "phi", "falcon", "starcoder2", "opt", "bloom", "mpt",
                          "whisper", "nemotron_h"})
# MoE families that also keep a dense MLP of `intermediate_size` in every MoE layer.
_DENSE_PLUS_EXPERTS = ("gemma4",)
# Families whose attention normalises q and k (RMSNorm over each head) before RoPE (transformers 5.x).
_QK_NORM = ("qwen3", "gemma3", "gemma4", "olmo2", "olmo3", "olmoe", "flex_olmo", "glm4_moe", "apertus", "exaone4",
            "cohere", "minimax_m2", "dots1", "lfm2")
# Families with four norms per decoder layer (pre and post attention, pre and post MLP).
_FOUR_NORMS = ("gemma2", "gemma3", "gemma4", "vaultgemma")
# Families whose KV-shared layers hold no k/v projections (transformers 5 modeling_gemma4; measured: Gemma 4
# E2B's 24,158,208 LoRA parameters at rank 16 under Unsloth 2026.10.9 count exactly without them).
_KV_SHARED_WITHOUT_KV = ("gemma4",)
# Parallel hybrids: every layer runs a Mamba-2 mixer beside attention and the MLP (Falcon-H1). In sequential
# hybrids the config's layer_types say which layers run a Mamba-2 mixer instead of attention (Granite 4.0-H:
# each layer a mixer or attention, then the MoE; Nemotron-H: each layer one of mixer, attention, MoE, MLP).
_PARALLEL_MAMBA = ("falcon_h1",)
# Sequential hybrids whose MoE or MLP sits in layers of its own (layer_types "moe" / "mlp"): Nemotron-H.
_OWN_FEED_FORWARD_LAYERS = ("nemotron_h",)
# Families whose checkpoints store some projections fused, by the fused matrices they hold: Phi-3 its attention's q, k,
# v as one qkv_proj and its MLP's gate and up as one gate_up_proj (transformers Phi3Attention, Phi3MLP); GLM-4 its MLP's
# (GlmMLP is Phi3MLP; Glm4MLP the same layout). The LoRA target names q_proj ... up_proj do not reach a fused matrix:
# peft, and Unsloth 2026.10.9, adapt the rest only (measured: phi-4 in Microsoft's layout, QLoRA rank 16, 21,299,200
# trainable parameters, exactly o_proj and down_proj of its 40 layers). Unsloth's own upload of phi-4 is converted to
# Llama's split layout (the catalog's unsloth_layout).
FUSED_PROJECTIONS: dict[str, tuple[str, ...]] = {"phi3": ("qkv_proj", "gate_up_proj"), "glm": ("gate_up_proj",),
                                                 "glm4": ("gate_up_proj",)}
FUSED_PARTS = {"qkv_proj": ("q_proj", "k_proj", "v_proj"), "gate_up_proj": ("gate_proj", "up_proj")}
# The names of one block's attention and MLP linears, fused ones included (which a checkpoint's skip list may name).
_ATTENTION_NAMES = (*ATTENTION_MODULES, "qkv_proj")
_MLP_NAMES = (*MLP_MODULES, "gate_up_proj")
# The input site of cross-attention's keys and values: the encoder's output, one row per encoder frame.
ENCODER_OUT = "encoder_out"


# Unsloth chooses LoRA targets by kind of module, not by name alone: with attention targeted, its regex reaches the
# Gated DeltaNet projections of Qwen3.5 (measured, round 7: Qwen3.5-27B LoRA r16 created 116.7M trainable
# parameters, 37.1M of them on in_proj_qkv / z / b / a and out_proj of the 48 DeltaNet layers). Mamba mixers were
# measured without (granite-4.0-h-tiny, Nemotron-3-Nano: the counts match the attention and MLP targets alone).
DELTANET_LORA = ("deltanet_in", "deltanet_out")
# LFM2's short-convolution blocks: Unsloth's LFM2.5 notebook lists their in_proj and out_proj among the LoRA targets beside
# the attention's (unslothai/notebooks nb/LFM2.5_(1.2B)-Conversational.ipynb: 11,108,352 trainable at rank 16, exactly the
# count with them), so by name (peft on the transformers stack) they count as reached whenever attention is. Unsloth
# 2026.10.9 does not reach them: it constrains named targets by kind of module (attention, MLP), and with in_proj and
# out_proj named it created 9,142,272 on LFM2.5-1.2B (round 48), exactly the count without them, as the older LFM2
# notebook printed: 2M parameters, a few MB of memory, apart.
CONV_LORA = ("conv_in", "conv_out")


@dataclass(frozen=True)
class Linear:
    """One linear layer of a decoder block: its LoRA name, shape and how many a block holds."""

    name: str
    fan_in: int
    fan_out: int
    copies: int = 1  # experts per layer for MoE expert matrices
    per_token: int = 1  # how many copies a token passes through (top-k for experts)
    site: str = ""  # the input tensor it reads; linears with the same site share their input
    expert: bool = False  # a routed-expert matrix (transformers 5 stores these as 3-D parameters)
    in_layers: int | None = None  # how many decoder layers hold it, where not all do (Gemma 4); None: all

    @property
    def params(self) -> int:
        return self.fan_in * self.fan_out * self.copies


@dataclass(frozen=True)
class Shapes:
    """What the estimator needs to know about a model's tensors."""

    layers: int
    hidden: int
    heads: int
    head_dim: int
    q_width: int  # heads * head_dim
    kv_width: int  # kv_heads * head_dim
    mlp_width: int  # intermediate activations one token passes through per layer (active experts only)
    router_width: int  # router logits per token (experts), 0 for dense models
    top_k: int  # experts each token is routed to, 0 for dense models
    vocab: int
    tied: bool
    qk_norm: bool  # q and k pass through a per-head RMSNorm
    norms: int  # RMSNorms per decoder layer
    linears: tuple[Linear, ...]  # one decoder block
    embedding_params: int  # the input embedding, per-layer embedding tables included
    head_params: int  # 0 when tied to the embedding
    norm_params: int  # whole model
    ple_params: int = 0  # per-layer embedding tables (Gemma 3n / 4), part of embedding_params
    other_params: int = 0  # biases and position tables (Whisper), kept 16-bit like the norms
    encoder: Encoder | None = None  # the speech encoder of an encoder-decoder

    def held(self, lin: Linear) -> int:
        """Decoder layers that hold `lin`."""
        return self.layers if lin.in_layers is None else lin.in_layers

    def share(self, lin: Linear) -> float:
        """The share of decoder layers that hold `lin`: per-layer figures are averages over the layers."""
        return self.held(lin) / self.layers

    @property
    def block_linear_params(self) -> int:
        """Parameters of the linear layers of every decoder block."""
        return sum(lin.params * self.held(lin) for lin in self.linears)

    @property
    def linear_params(self) -> int:
        """Parameters of every block linear layer, the encoder's included (what 4-bit quantisation stores)."""
        return self.block_linear_params + (self.encoder.blocks.linear_params if self.encoder else 0)

    def site_params(self, sites: tuple[str, ...]) -> int:
        """Parameters of the decoder linears that read one of `sites`."""
        return sum(lin.params * self.held(lin) for lin in self.linears if lin.site in sites)

    @property
    def routed_layers(self) -> int:
        """Decoder layers with a router (those holding routed experts); 0 for a dense model."""
        if self.router_width == 0:
            return 0
        return max((self.held(lin) for lin in self.linears if lin.expert), default=self.layers)

    @property
    def mamba_mixers(self) -> bool:
        """Whether some decoder layers are Mamba-2 mixers (whose state Unsloth will not pack rows across)."""
        return any(lin.site == "mamba_in" for lin in self.linears)

    @property
    def router_params(self) -> int:
        return self.routed_layers * self.router_width * self.hidden

    @property
    def total_params(self) -> int:
        encoder = self.encoder.blocks.total_params if self.encoder else 0
        return (self.block_linear_params + self.router_params + self.embedding_params + self.head_params
                + self.norm_params + self.other_params + encoder)

    @property
    def layer_params(self) -> int:
        """Parameters of one decoder block (the unit FSDP gathers at a time), averaged over the layers."""
        return self.block_linear_params // self.layers + self.router_width * self.hidden + 2 * self.hidden

    @property
    def expert_params(self) -> int:
        return sum(lin.params * self.held(lin) for lin in self.linears if lin.expert)

    def lora_linears(self, targets: tuple[str, ...], experts: bool = True, by_kind: bool = False) -> tuple[Linear, ...]:
        """The linears LoRA reaches: named in `targets`; routed experts only when `experts`; whenever attention is
        targeted, by name LFM2's convolution projections (CONV_LORA) and by kind (`by_kind`: Unsloth) a Gated
        DeltaNet's instead (DELTANET_LORA and CONV_LORA say why)."""
        attention = not set(targets).isdisjoint(ATTENTION_MODULES)
        mixers = (DELTANET_LORA if by_kind else CONV_LORA) if attention else ()
        return tuple(lin for lin in self.linears if (lin.name in targets or lin.site in mixers) and (experts or not lin.expert))

    def lora_params(self, rank: int, lora: tuple[Linear, ...], fused_experts: bool = False) -> int:
        """LoRA A and B parameters over the whole model: rank * (fan_in + fan_out) per matrix.

        fused_experts: routed experts store gate and up as one gate_up matrix (transformers 5), so
        one adapter pair covers both: rank * (fan_in + 2 * width) instead of two pairs."""
        total = sum(rank * (lin.fan_in + lin.fan_out) * lin.copies * self.held(lin) for lin in lora)
        names = {lin.name for lin in lora if lin.expert}
        if fused_experts and {"gate_proj", "up_proj"} <= names:
            gate = next(lin for lin in lora if lin.expert and lin.name == "gate_proj")
            total -= rank * gate.fan_in * gate.copies * self.held(gate)  # the shared A of the fused gate_up adapter
        if self.encoder:  # the target names reach the encoder's layers too
            blocks = self.encoder.blocks
            total += blocks.lora_params(rank, blocks.lora_linears(tuple(lin.name for lin in lora)))
        return total

    @property
    def expert_bytes_16bit(self) -> float:
        """Routed-expert weights of the whole model in 16-bit."""
        return 2.0 * self.expert_params


@dataclass(frozen=True)
class Encoder:
    """The speech encoder of an encoder-decoder: `blocks` describes its layers (its `layers` are the encoder's
    depth; conv front-end and position table in its other_params), run over `frames` positions per example
    whatever the text length (max_source_positions: Whisper pads every clip to 30 s, 1500 frames)."""

    blocks: Shapes
    frames: int


def shapes(arch: Architecture) -> Shapes:
    """Tensor shapes of the transformer described by `arch`."""
    if arch.is_encoder_decoder:
        return _encoder_decoder(arch)
    h = arch.hidden_size
    head_dim = arch.attention_head_dim
    q_width = arch.num_attention_heads * head_dim
    kv_width = arch.kv_heads * head_dim
    if arch.is_latent_attention:  # every head's key is head_dim wide, its value v_head_dim: kv_width is their mean
        kv_width = arch.num_attention_heads * (head_dim + arch.value_head_dim) // 2
    latent_norms = arch.num_hidden_layers * ((arch.q_lora_rank or 0) + (arch.kv_lora_rank or 0))
    gated = arch.model_type not in _UNGATED_MLP
    if arch.is_moe:
        ffn, mlp_width, router, top_k = _moe_feed_forward(arch, gated)
    else:
        (ffn, mlp_width), router, top_k = _dense_feed_forward(arch, gated), 0, 0
    linears = _attention(arch) + _mamba(arch) + _gated_deltanet(arch) + _short_conv(arch) + ffn
    if arch.model_type in FUSED_PROJECTIONS:
        linears = _fused(linears, FUSED_PROJECTIONS[arch.model_type])
    ple = (arch.vocab_size_per_layer_input or arch.vocab_size) * arch.num_hidden_layers * arch.hidden_size_per_layer_input \
        if arch.hidden_size_per_layer_input else 0
    embedding = arch.vocab_size * h
    return Shapes(
        layers=arch.num_hidden_layers,
        hidden=h,
        heads=arch.num_attention_heads,
        head_dim=head_dim,
        q_width=q_width,
        kv_width=kv_width,
        mlp_width=mlp_width,
        router_width=router,
        top_k=top_k,
        vocab=arch.vocab_size,
        tied=arch.tie_word_embeddings,
        qk_norm=arch.model_type.startswith(_QK_NORM) and not arch.is_latent_attention,
        norms=4 if arch.model_type.startswith(_FOUR_NORMS) else 2,
        linears=tuple(linears),
        embedding_params=embedding + ple,
        head_params=0 if arch.tie_word_embeddings else embedding,
        ple_params=ple,
        norm_params=((4 if arch.model_type.startswith(_FOUR_NORMS) else 2) * arch.num_hidden_layers + 1) * h + latent_norms,
    )


def _moe_feed_forward(arch: Architecture, gated: bool) -> tuple[list[Linear], int, int, int]:
    """A MoE model's feed-forward linears (routed experts, a shared expert, a dense MLP beside them), the width a token
    passes through (per layer, averaged where only some layers are MoE), the router's width and top-k."""
    h, experts = arch.hidden_size, arch.num_experts or 1
    top_k = min(arch.num_experts_per_tok or 1, experts)
    expert_width = arch.moe_intermediate_size or arch.intermediate_size or 4 * h
    dense = arch.dense_mlp_layers
    held = arch.num_hidden_layers - dense if dense else _feed_forward_layers(arch, "moe")
    linears = _mlp(h, expert_width, gated, "experts", copies=experts, per_token=top_k, expert=True, in_layers=held)
    mlp_width = top_k * expert_width
    shared = _shared_expert_width(arch)
    if shared:
        linears += _mlp(h, shared, gated, "shared", in_layers=held)
        mlp_width += shared
    if arch.intermediate_size and arch.model_type.startswith(_DENSE_PLUS_EXPERTS):
        linears += _mlp(h, arch.intermediate_size, gated, "dense")
        mlp_width += arch.intermediate_size
    if held is not None:  # per-layer widths are averages over the layers
        mlp_width = round(mlp_width * held / arch.num_hidden_layers)
    if dense:  # the dense MLP of the layers without experts (DeepSeek V3's first three, Llama 4 Maverick's every other)
        width = arch.intermediate_size_mlp or arch.mlp_width
        linears += _mlp(h, width, gated, "dense", in_layers=dense)
        mlp_width += round(width * dense / arch.num_hidden_layers)
    return linears, mlp_width, experts, top_k


def _dense_feed_forward(arch: Architecture, gated: bool) -> tuple[list[Linear], int]:
    """A dense model's MLP linears and their width per layer (averaged where layers differ)."""
    h = arch.hidden_size
    width = arch.mlp_width
    wide = _kv_shared(arch) if arch.use_double_wide_mlp else 0
    held = _feed_forward_layers(arch, "mlp")
    if wide:  # Gemma 4 E2B: the KV-shared layers' MLP is twice as wide
        linears = _mlp(h, width, gated, "dense", in_layers=arch.num_hidden_layers - wide)
        linears += _mlp(h, 2 * width, gated, "dense", in_layers=wide)
    else:
        linears = _mlp(h, width, gated, "dense", in_layers=held)
    mlp_width = round(width * (1 + wide / arch.num_hidden_layers) * (1 if held is None else held / arch.num_hidden_layers))
    return linears, mlp_width


def _encoder_decoder(arch: Architecture) -> Shapes:
    """Whisper as transformers builds it (modeling_whisper): pre-LayerNorm blocks (weight and bias) with
    q/k/v/out projections (k without bias) and a two-matrix GELU MLP (fc1, fc2) with biases. A decoder layer
    adds cross-attention whose k and v read the encoder's output; the decoder has a learned position table and
    proj_out tied to its embedding; the encoder has two 3-wide Conv1d (mel bins to d_model, d_model to d_model)
    and a sinusoidal position table stored as a parameter. Counted with the configs of large-v3 and turbo, this
    gives their published sizes exactly (1,543,490,560 and 808,878,080)."""
    h, ffn, decoder = arch.hidden_size, arch.intermediate_size or 4 * arch.hidden_size, arch.num_hidden_layers
    attention = [Linear("q_proj", h, h, site="attn_in"), Linear("k_proj", h, h, site="attn_in"),
                 Linear("v_proj", h, h, site="attn_in"), Linear("o_proj", h, h, site="attn_out")]
    cross = [Linear("q_proj", h, h, site="cross_in"), Linear("k_proj", h, h, site=ENCODER_OUT),
             Linear("v_proj", h, h, site=ENCODER_OUT), Linear("o_proj", h, h, site="cross_out")]
    # Architecture holds every encoder field of an encoder-decoder; the fallbacks only satisfy the types.
    conv = (arch.num_mel_bins or 0) * h * 3 + h + h * h * 3 + h
    encoder = _layer_norm_blocks(arch.encoder_layers or 1, h, arch.encoder_attention_heads or 1, arch.encoder_ffn_dim or ffn,
                                 attention, norms=2, other=conv + (arch.max_source_positions or 0) * h)
    decoder_shapes = _layer_norm_blocks(decoder, h, arch.num_attention_heads, ffn, attention + cross, norms=3,
                                        other=(arch.max_target_positions or 0) * h, vocab=arch.vocab_size,
                                        tied=arch.tie_word_embeddings)
    return replace(decoder_shapes, encoder=Encoder(encoder, arch.max_source_positions or 0))


def _layer_norm_blocks(layers: int, h: int, heads: int, ffn: int, attention: list[Linear], norms: int, other: int,
                       vocab: int = 0, tied: bool = True) -> Shapes:
    """A stack of Whisper-style blocks: `attention` and a GELU MLP, each linear with a bias but k_proj,
    `norms` LayerNorms (weight and bias) per block and one after the stack."""
    linears = (*attention, *_mlp(h, ffn, False, "dense"))
    biases = sum(lin.fan_out for lin in linears if lin.name != "k_proj")
    return Shapes(
        layers=layers, hidden=h, heads=heads, head_dim=h // heads, q_width=h, kv_width=h, mlp_width=ffn,
        router_width=0, top_k=0, vocab=vocab, tied=tied, qk_norm=False, norms=norms, linears=linears,
        embedding_params=vocab * h, head_params=0 if tied else vocab * h, norm_params=(norms * layers + 1) * 2 * h,
        other_params=layers * biases + other,
    )


def widest_mlp(s: Shapes) -> int:
    """The widest dense or shared MLP a decoder layer holds (its down projection's input); the hidden size if none."""
    return max((lin.fan_in for lin in s.linears if lin.name == "down_proj" and not lin.expert), default=s.hidden)


def _mlp(h: int, width: int, gated: bool, block: str, copies: int = 1, per_token: int = 1,
         expert: bool = False, in_layers: int | None = None) -> list[Linear]:
    down = Linear("down_proj", width, h, copies, per_token, f"{block}_mid", expert, in_layers)
    if gated:
        return [
            Linear("gate_proj", h, width, copies, per_token, f"{block}_in", expert, in_layers),
            Linear("up_proj", h, width, copies, per_token, f"{block}_in", expert, in_layers),
            down,
        ]
    # Two-matrix MLPs: peft names differ per family; they are reported as up/down here.
    return [Linear("up_proj", h, width, copies, per_token, f"{block}_in", expert, in_layers), down]


def _fused(linears: list[Linear], fused_names: tuple[str, ...]) -> list[Linear]:
    """Each fused matrix (qkv_proj, gate_up_proj) in place of its parts, which read the same input: fan-outs summed."""
    out: list[Linear] = []
    for lin in linears:
        fused = next((name for name in fused_names if lin.name in FUSED_PARTS[name]), None)
        if fused and out and out[-1].name == fused:
            out[-1] = replace(out[-1], fan_out=out[-1].fan_out + lin.fan_out)
        else:
            out.append(replace(lin, name=fused) if fused else lin)
    return out


def _kv_shared(arch: Architecture) -> int:
    """How many of the last layers reuse an earlier layer's keys and values (0 when none, or all)."""
    shared = arch.num_kv_shared_layers or 0
    return shared if 0 < shared < arch.num_hidden_layers else 0


def _attention(arch: Architecture) -> list[Linear]:
    """q, k, v, o of every layer, or of the attention layers only in a hybrid whose other layers run Mamba-2 or
    Gated DeltaNet. Uniform unless full-attention layers have their own head size (Gemma 4's
    global_head_dim, keys that are the values) or KV-shared layers hold no k/v projections: then one set
    per kind of layer, each counting the layers that hold it."""
    if arch.is_latent_attention:
        return _latent_attention(arch)
    h, layers = arch.hidden_size, arch.num_hidden_layers
    kinds = list(arch.layer_types or ())[:layers]
    q, kv = arch.num_attention_heads * arch.attention_head_dim, arch.kv_heads * arch.attention_head_dim
    gate = 2 if arch.attn_output_gate else 1  # Qwen3.5, Qwen3-Next: q_proj also produces the output gate
    if _sequential_mamba(arch) or deltanet_layers(arch) or _conv_layers(arch):  # Granite 4.0-H, Nemotron-H, Qwen3.5, LFM2
        n = sum(kind in ATTENTION_KINDS for kind in kinds)
        return [Linear("q_proj", h, gate * q, site="attn_in", in_layers=n), Linear("k_proj", h, kv, site="attn_in", in_layers=n),
                Linear("v_proj", h, kv, site="attn_in", in_layers=n), Linear("o_proj", q, h, site="attn_out", in_layers=n)]
    shared = _kv_shared(arch) if arch.model_type.startswith(_KV_SHARED_WITHOUT_KV) else 0
    uniform = not shared and not (arch.global_head_dim and "full_attention" in kinds) and not arch.attention_k_eq_v
    if uniform or len(kinds) != layers:
        return [Linear("q_proj", h, gate * q, site="attn_in"), Linear("k_proj", h, kv, site="attn_in"),
                Linear("v_proj", h, kv, site="attn_in"), Linear("o_proj", q, h, site="attn_out")]
    groups: dict[tuple[bool, bool], int] = {}
    for i, kind in enumerate(kinds):
        key = (kind == "full_attention", i >= layers - shared)
        groups[key] = groups.get(key, 0) + 1
    out: list[Linear] = []
    for (full, is_shared), n in sorted(groups.items()):
        dim = (arch.global_head_dim if full else None) or arch.attention_head_dim
        k_eq_v = full and arch.attention_k_eq_v
        kv_heads = (arch.num_global_key_value_heads if k_eq_v else None) or arch.kv_heads
        q = arch.num_attention_heads * dim
        out += [Linear("q_proj", h, q, site="attn_in", in_layers=n), Linear("o_proj", q, h, site="attn_out", in_layers=n)]
        if not is_shared:
            out.append(Linear("k_proj", h, kv_heads * dim, site="attn_in", in_layers=n))
            if not k_eq_v:
                out.append(Linear("v_proj", h, kv_heads * dim, site="attn_in", in_layers=n))
    return out


def _latent_attention(arch: Architecture) -> list[Linear]:
    """Multi-head latent attention as transformers builds it (DeepseekV3Attention, Glm4MoeLiteAttention): q_a_proj
    to the q_lora_rank latent and q_b_proj to every head's query (or one q_proj without a latent); kv_a_proj_with_mqa
    to the kv_lora_rank latent plus the rope key all heads share, kv_b_proj to every head's key (no-rope part) and
    value; o_proj from the values. Only o_proj (and q_proj) carry the names LoRA targets: measured on GLM-4.7-Flash
    (Unsloth 2026.10.9, r16), 423,886,848 trainable parameters, exactly o_proj and the MLPs and experts."""
    h, heads, qk = arch.hidden_size, arch.num_attention_heads, arch.attention_head_dim
    nope, rope, v = arch.qk_nope_head_dim or 0, arch.qk_rope_head_dim or 0, arch.value_head_dim
    latent_kv = arch.kv_lora_rank or 0
    query = ([Linear("q_a_proj", h, arch.q_lora_rank, site="attn_in"),
              Linear("q_b_proj", arch.q_lora_rank, heads * qk, site="latent_q")] if arch.q_lora_rank
             else [Linear("q_proj", h, heads * qk, site="attn_in")])
    return [*query, Linear("kv_a_proj_with_mqa", h, latent_kv + rope, site="attn_in"),
            Linear("kv_b_proj", latent_kv, heads * (nope + v), site="latent_kv"),
            Linear("o_proj", heads * v, h, site="attn_out")]


def _layers_of(arch: Architecture, kind: str) -> int:
    """How many layers layer_types lists as `kind` (0 where the config lists none)."""
    return sum(k == kind for k in arch.layer_types or ())


def _sequential_mamba(arch: Architecture) -> int:
    """How many layers run a Mamba-2 mixer instead of attention (0 unless layer_types lists "mamba" layers).
    Without the mixer's sizes its projections are not counted here: a catalog parameter count then carries
    them as parameters the config does not describe."""
    return _layers_of(arch, "mamba")


def _mamba(arch: Architecture) -> list[Linear]:
    """The in_proj and out_proj of a Mamba-2 mixer (transformers FalconH1Mixer, GraniteMoeHybridMambaLayer,
    NemotronHMamba2Mixer: in_proj maps hidden to the gate and x (the mixer's width each), B and C (n_groups *
    d_state each) and dt (one per head); out_proj maps the width back), in every layer of a parallel hybrid or
    in the mamba layers of a sequential one. Its conv1d, dt_bias, A_log, D and gated norm, a few thousand
    parameters a layer, are not counted; nor are the mixer's activations (the estimate assumes attention
    and the MLP only). peft names these in_proj / out_proj: outside the default LoRA targets."""
    d_ssm, h = arch.mamba_width, arch.hidden_size
    layers = _sequential_mamba(arch) or (arch.num_hidden_layers if arch.model_type.startswith(_PARALLEL_MAMBA) else 0)
    if not (d_ssm and layers):
        return []
    width = 2 * d_ssm + 2 * (arch.mamba_n_groups or 1) * (arch.mamba_d_state or 0) + (arch.mamba_n_heads or 0)
    held = None if layers == arch.num_hidden_layers else layers
    return [Linear("in_proj", h, width, site="mamba_in", in_layers=held),
            Linear("out_proj", d_ssm, h, site="mamba_out", in_layers=held)]


def deltanet_layers(arch: Architecture) -> int:
    """How many layers run Gated DeltaNet (layer_types "linear_attention", with its head sizes given)."""
    if not (arch.linear_num_value_heads and arch.linear_value_head_dim and arch.linear_num_key_heads):
        return 0
    return _layers_of(arch, "linear_attention")


def _gated_deltanet(arch: Architecture) -> list[Linear]:
    """Qwen3.5's Gated DeltaNet projections (transformers Qwen3_5GatedDeltaNet): in_proj_qkv maps hidden to
    queries and keys (key heads x key size each) and values (value heads x value size), in_proj_z to the output
    gate (the value width), in_proj_b and in_proj_a to one value per value head; out_proj maps the value width
    back. Its depthwise conv1d, dt_bias, A_log and gated norm, some 40 thousand parameters a layer, are not
    counted. Unsloth's LoRA reaches these projections when attention is targeted (DELTANET_LORA)."""
    layers = deltanet_layers(arch)
    if not layers:
        return []
    h, heads = arch.hidden_size, arch.linear_num_value_heads or 0
    keys, values = arch.linear_num_key_heads * (arch.linear_key_head_dim or 0), heads * (arch.linear_value_head_dim or 0)
    held = None if layers == arch.num_hidden_layers else layers
    return [Linear("in_proj_qkv", h, 2 * keys + values, site="deltanet_in", in_layers=held),
            Linear("in_proj_z", h, values, site="deltanet_in", in_layers=held),
            Linear("in_proj_b", h, heads, site="deltanet_in", in_layers=held),
            Linear("in_proj_a", h, heads, site="deltanet_in", in_layers=held),
            Linear("out_proj", values, h, site="deltanet_out", in_layers=held)]


def _conv_layers(arch: Architecture) -> int:
    """How many layers are LFM2's short convolutions (layer_types "conv") instead of attention."""
    return _layers_of(arch, SHORT_CONV)


def _short_conv(arch: Architecture) -> list[Linear]:
    """LFM2's short-convolution block (transformers Lfm2ShortConv) in the layers listed as conv: in_proj maps hidden to
    three gates of its width, out_proj back. Its depthwise Conv1d (hidden x conv_L_cache, 3 wide: 61,440 parameters in
    LFM2-1.2B) is not counted."""
    layers = _conv_layers(arch)
    if not layers:
        return []
    h = arch.hidden_size
    return [Linear("in_proj", h, 3 * h, site="conv_in", in_layers=layers),
            Linear("out_proj", h, h, site="conv_out", in_layers=layers)]


def _feed_forward_layers(arch: Architecture, kind: str) -> int | None:
    """How many layers hold the MoE ("moe") or MLP ("mlp") block: None (all) unless the family gives them
    layers of their own (Nemotron-H)."""
    if not arch.model_type.startswith(_OWN_FEED_FORWARD_LAYERS) or not arch.layer_types:
        return None
    return _layers_of(arch, kind)


def _shared_expert_width(arch: Architecture) -> int:
    if arch.shared_expert_intermediate_size:
        return arch.shared_expert_intermediate_size * (arch.num_shared_experts or 1)
    if arch.num_shared_experts:
        return arch.num_shared_experts * (arch.moe_intermediate_size or arch.intermediate_size or 0)
    return 0


# Dense layouts of released models, used to give a bare parameter count a plausible shape.
# (params_b, layers, hidden, intermediate, heads, kv_heads, head_dim, vocab, tied); values from
# /work/shared/reference/models.md (Qwen3 and Llama 3.1 configs, architecture_status verified).
_TEMPLATES: tuple[tuple[float, int, int, int, int, int, int, int, bool, str], ...] = (
    (0.6, 28, 1024, 3072, 16, 8, 128, 151936, True, "Qwen3-0.6B"),
    (1.7, 28, 2048, 6144, 16, 8, 128, 151936, True, "Qwen3-1.7B"),
    (4.0, 36, 2560, 9728, 32, 8, 128, 151936, True, "Qwen3-4B"),
    (8.03, 32, 4096, 14336, 32, 8, 128, 128256, False, "Llama-3.1-8B"),
    (14.8, 40, 5120, 17408, 40, 8, 128, 151936, False, "Qwen3-14B"),
    (32.8, 64, 5120, 25600, 64, 8, 128, 151936, False, "Qwen3-32B"),
    (70.6, 80, 8192, 28672, 64, 8, 128, 128256, False, "Llama-3.1-70B"),
    (405.0, 126, 16384, 53248, 128, 8, 128, 128256, False, "Llama-3.1-405B"),
)


def architecture_for_params(params_b: float) -> tuple[Architecture, str]:
    """A dense layout with about `params_b` billion parameters, and the model it was scaled from.

    The nearest template (in log size) keeps its width; its depth is scaled so the total matches.
    """
    import math

    template = min(_TEMPLATES, key=lambda t: abs(math.log(t[0] / params_b)))
    _, layers, h, inter, heads, kv, hd, vocab, tied, name = template
    arch = Architecture(
        model_type="llama", num_hidden_layers=layers, hidden_size=h, intermediate_size=inter,
        num_attention_heads=heads, num_key_value_heads=kv, head_dim=hd, vocab_size=vocab, tie_word_embeddings=tied,
    )
    s = shapes(arch)
    fixed = s.embedding_params + s.head_params + h
    per_layer = (s.total_params - fixed) / layers
    scaled = max(1, round((params_b * 1e9 - fixed) / per_layer))
    return arch.model_copy(update={"num_hidden_layers": scaled}), name


def params_kept_16bit(s: Shapes, modules: list[str]) -> int:
    """Decoder-linear parameters named by a checkpoint's `llm_int8_skip_modules` (kept in 16-bit).

    Entries look like 'model.layers.3.mlp.down_proj', 'model.layers.0.self_attn' or 'lm_head';
    names outside the decoder layers (lm_head, vision towers) are not 4-bit candidates anyway.
    """
    import re

    total = 0
    for module in sorted(set(modules)):
        match = re.search(r"layers\.(\d+)\.(.+)$", module)
        if not match or int(match.group(1)) >= s.layers:
            continue
        rest = match.group(2)
        last = rest.rsplit(".", 1)[-1]
        one_expert = ".experts." in f".{rest}"
        for lin in s.linears:
            if last in ("self_attn", "attn", "attention"):
                total += lin.params if lin.name in _ATTENTION_NAMES else 0
            elif last in ("mlp", "feed_forward"):
                total += lin.params if lin.name in _MLP_NAMES else 0
            elif lin.name == last and lin.expert == one_expert:
                total += lin.fan_in * lin.fan_out if one_expert else lin.params
    return total
