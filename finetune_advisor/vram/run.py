"""A fine-tuning run as the estimator takes it (`RunConfig`), what it answers (`CoreEstimate`), and the
check that a run is one it can size (`check_run`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from finetune_advisor.errors import InvalidInputError
from finetune_advisor.vocabulary import ALL_LINEAR, ATTENTIONS, METHODS, OPTIMIZERS, SHARDINGS, STACKS, check_range
from finetune_advisor.vram import fit
from finetune_advisor.vram.architecture import Architecture


AUTOCAST_NO_EFFECT = "autocast has no effect on the unsloth stack: Unsloth sets its own precision."
# How an answer names turning the router aux loss off (RunConfig.router_aux_loss False), with what training loses.
AUX_LOSS_OFF = "trl's router aux loss off, SFTConfig(router_aux_loss_coef=0.0) (no load-balancing term)"
# The other way to the same figure (families.router_trial_kept): Unsloth's per-layer compile off, the aux loss kept.
BLOCK_COMPILE_OFF = ("UNSLOTH_BLOCK_COMPILE=0 in the environment gives the same peak and keeps the load-balancing term, "
                     "at about 1.4x the step time (measured on Qwen3-30B-A3B QLoRA at 8,192 tokens: 25.3 GiB, 1.25 s a "
                     "step against 0.9 compiled, each beside another job)")
AUX_LOSS_NO_EFFECT = ("router_aux_loss changes only the Unsloth stack's figure (its first step's trial forwards); on "
                      "the transformers stack the router logits the aux loss keeps are small and not counted.")


class RunConfig(BaseModel):
    """How the model is trained (plain values; validated by `check_run`)."""

    model_config = ConfigDict(frozen=True)

    method: str = "qlora"
    seq_len: int = 2048
    batch_size: int = 1
    lora_rank: int = 16
    target_modules: tuple[str, ...] = ALL_LINEAR
    lora_dropout: float = 0.0
    gradient_checkpointing: bool = True
    optimizer: str = "adamw_8bit"
    stack: str = "unsloth"
    num_gpus: int = 1
    sharding: str = "ddp"
    full_fp32_master: bool = False
    autocast: bool = False  # transformers stack: the forward under bf16 autocast, as Trainer(bf16=True) runs it;
    #                         no effect on Unsloth's, which sets its own precision (AUTOCAST_NO_EFFECT)
    bf16: bool = True
    storage: str = "16bit"
    attention: str = "sdpa"
    images_per_row: int = 0  # images in each row, for a vision model (extras)
    offload_embedding: bool = False  # Unsloth moved the (untied) input embedding to host RAM
    # Unsloth's budget for one chunk of its fallback loss: half the GPU's memory free when the first step reaches the
    # loss, at most 4 GiB (families.loss_chunk_rows). None: the cap (a card of unknown size, or with 8 GiB or more free).
    loss_budget_gib: float | None = None
    # MoE: trl's router load-balancing loss, on by default where the config class has one (families.router_trial_kept);
    # False is SFTConfig(router_aux_loss_coef=0.0).
    router_aux_loss: bool = True
    # The GPU's compute capability and SM count, where known: what kernels that spill registers leave behind
    # scales with them (local_memory).
    gpu_capability: str | None = None
    gpu_sms: int | None = None
    gpu_name: str | None = None  # how the answer names that GPU

    @property
    def sharded(self) -> bool:
        return self.num_gpus > 1 and self.sharding in ("fsdp", "zero3")

    @property
    def tokens(self) -> int:
        return self.batch_size * self.seq_len

    @property
    def fp32_stream(self) -> bool:
        """QLoRA on transformers + peft without autocast (a plain loop): prepare_model_for_kbit_training leaves the
        residual stream float32, so attention runs in float32 too (SDPA's math kernel with grouped-query attention;
        measured 3-4x slower a step than under bf16 autocast)."""
        return self.stack == "transformers" and self.method == "qlora" and not self.autocast

    @property
    def ignored(self) -> list[str]:
        """Settings asked for a stack they do not change, said in the answer rather than dropped silently: autocast
        on Unsloth's, the router aux loss off on the transformers stack's."""
        return [note for note, asked in ((AUTOCAST_NO_EFFECT, self.autocast and self.stack != "transformers"),
                                         (AUX_LOSS_NO_EFFECT, not self.router_aux_loss and self.stack != "unsloth"))
                if asked]


class Breakdown(BaseModel):
    """GiB per GPU at the peak; the parts add up to total_gib."""

    weights: float
    adapters: float
    gradients: float
    optimizer: float
    activations: float
    logits_and_loss: float
    overhead: float = Field(description="CUDA context, fragmentation, workspaces")


def billions(count: float) -> float:
    """A parameter count in billions as answers give it: three decimals, four significant digits below a billion
    (a 0.4M-parameter test config is not '0B')."""
    b = count / 1e9
    return round(b, 3) if b >= 1 else float(f"{b:.4g}")


class CoreEstimate(BaseModel):
    total_gib: float
    breakdown: Breakdown
    params_b: float
    trainable_params_m: float
    assumptions: list[str]  # what matters for this model, run and GPU
    ground: list[str] = []  # of assumptions, those on how far the family is from our measured runs (Unsloth)
    background: list[str] = []  # how every estimate of this kind is built (method, measurements)
    margin: float = fit.TIGHT_FRACTION  # the error to expect, as a share of total_gib (fit.judge's margin)
    over_margin: float = fit.TIGHT_FRACTION  # how far above the peak it may be (fit.judge's over: near misses)
    first_step_gib: float = 0.0  # of total_gib, what only the first step of a fresh process holds
    cache_gib: float = 0.0  # of total_gib, blocks the allocator keeps cached at the peak and gives back when short

    @property
    def need_gib(self) -> float:
        """What the run needs where memory runs short: the peak less the cache PyTorch's allocator frees and retries
        with before it fails (fit verdicts are judged on it)."""
        return round(self.total_gib - self.cache_gib, 3)


def check_run(run: RunConfig, arch: Architecture | None = None, context_length: int | None = None) -> None:
    """Raise InvalidInputError naming the first field outside what the estimator accepts."""
    for name, allowed in (("method", METHODS), ("optimizer", OPTIMIZERS), ("stack", STACKS),
                          ("sharding", SHARDINGS), ("attention", ATTENTIONS)):
        value = getattr(run, name)
        if value not in allowed:
            raise InvalidInputError(name, f"unknown value {value!r}", "one of " + ", ".join(allowed))
    for name in ("seq_len", "batch_size", "lora_rank", "lora_dropout", "num_gpus", "images_per_row"):
        check_range(name, getattr(run, name))
    if run.full_fp32_master and run.method != "full":
        raise InvalidInputError("full_fp32_master", "fp32 master weights apply to method 'full' only", "false unless method is 'full'")
    if run.method != "full":
        unknown = [m for m in run.target_modules if m not in ALL_LINEAR]
        if unknown or not run.target_modules:
            raise InvalidInputError("target_modules", f"unknown or empty: {unknown or '[]'}", "a non-empty subset of " + ", ".join(ALL_LINEAR))
        if arch is not None and run.lora_rank > arch.hidden_size:
            raise InvalidInputError("lora_rank", f"{run.lora_rank} is above the model's hidden size {arch.hidden_size}", f"1 to {arch.hidden_size}")
    if context_length and run.seq_len > context_length:
        raise InvalidInputError("seq_len", f"{run.seq_len} is beyond the model's context of {context_length} tokens (the "
                                "larger of its stated context and its config's max_position_embeddings)",
                                f"1 to {context_length}")


# --- precision ---------------------------------------------------------------------------------
