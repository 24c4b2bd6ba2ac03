"""Measure the `unsloth` stack the way its notebooks train: Unsloth's loader, LoRA wrapper and trl's SFTTrainer.

    python unsloth_sft.py prepare NAME DIR [--prequantize] [--fp8-per-tensor] | --build-4bit
    python unsloth_sft.py run NAME DIR METHOD OUT.jsonl --shapes 1x512,1x2048 [--rank 16]
                              [--emulate t4|v100|24g|16g|12g|8g|4g] [--quant on-load|prequantized|fp8] [--deadline-s S] [--env K=V] [--tag LABEL]

`prepare` builds NAME from its real config.json (configs/NAME.json) with random bf16 weights on
the GPU (in RAM where the GPU's free memory cannot hold them: `build_device`), saves it to DIR with a word-level stand-in tokenizer of exactly `vocab_size` entries and,
with --prequantize, also saves DIR-bnb-4bit: the model loaded through transformers' bitsandbytes
quantizer (NF4, double quantisation, bf16 compute) and saved, as Unsloth's `-bnb-4bit` uploads are.
--build-4bit writes only DIR-bnb-4bit, in the same format, without ever holding the model in 16 bits
(`build_4bit`): for models whose bf16 checkpoint does not fit the machine (Gemma 4 31B, a 70B).
--fp8-per-tensor also saves DIR-fp8: the model in FP8 with one scale per tensor, as Mistral's FP8 uploads are stored
(`save_fp8`), which a `--quant fp8` cell loads with load_in_4bit=True, as a user's QLoRA call would.

`run` is one fresh process per (model, method, rank, quant form, emulation), the way a user's run
is one process. It loads with `FastLanguageModel.from_pretrained` (`FastModel` for multimodal
models): `load_in_4bit=True` for qlora, 16-bit for lora, `full_finetuning=True` for full; wraps
with `get_peft_model(r, lora_alpha=r, all linear projections, use_gradient_checkpointing="unsloth")`;
then, per shape BxS (ascending), trains `STEPS` steps through trl's `SFTTrainer` + `SFTConfig`
(`optim="adamw_8bit"`, bf16, or fp16 without bf16) on rows of exactly S random tokens: no packing,
nothing shorter than S (except in a CALIB_VARY cell: `varied_lengths`). Whatever Unsloth decides by itself
(padding-free batching, compile, loss chunking) is left on and recorded.

Recorded per cell: NVML peak for this process (per-process and device-level readings), the
allocator's peaks, CUDA context, step wall times and tokens/s, what the trainer ran with, bytes of
parameters by dtype after loading (what bitsandbytes really quantised), and every version.

`--emulate t4` makes Unsloth take the path of a 16 GB card without bf16 on an H100/H200: torch
reports no bf16 support and a total and free memory as on a T4 (14.56 GiB as torch reports it),
the caching allocator is capped to that size (`set_per_process_memory_fraction`), and Unsloth's
own bf16 flag is turned off after import; `--emulate v100` is the same for a 32 GB V100. `--emulate 24g`, `16g`, `12g`, `8g` and `4g` are cards of that memory with bf16. The compute
capability stays the real one (see `emulate_card`). What is patched is recorded in `emulation`.
"""

from __future__ import annotations

from collections.abc import Mapping
import contextlib
import copy
import gc
import json
import math
import os
import shutil
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

STEPS = 4
HERE = os.path.dirname(os.path.abspath(__file__))
LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
# Cards a run can pretend to be.
# total_gib: the card's memory as torch reports it. T4: 14.563 GiB ("Max memory = 14.563 GB" in Unsloth's T4
# notebooks, e.g. github unslothai/notebooks@bdda2ef:nb/Qwen3_5_(0_8B)_Vision.ipynb); rounds 1-5 used 15.0.
# "12g": any 12 GiB card with bf16 (Ampere or later), to see what Unsloth decides on a tight bf16 card; "8g" the
# same at 8 GiB (an RTX 4060 or 3070 class card), where Unsloth's guide trains Gemma 4 E2B and our estimate says no;
# "4g" caps the allocator at 4 GiB, about 0.5 above what a small model's fixed-length step needs, to see whether a run
# whose reservation grows with changing shapes (LFM2.5 on varied rows, round 51) fails there or gives its cache back.
# "v100": a 32 GB V100, the other card without bf16 (compute capability 7.0), at 32,510 MiB (31.748 GiB; round 67),
# between the 32,480 and 32,768 MiB nvidia-smi logs show for it by driver (finetune_advisor/gpus/gpus.json, not
# sourced further): Unsloth's no-bf16 path at lengths a T4 cannot hold. No cell measured on it came near the cap.
# The caps above leave the CUDA context (about 0.8 GiB) and the driver's share outside, so a run that fits one may not
# fit the real card. "4090" keeps both inside: its allocator gets the card's 23.988 GiB less the 0.6 GiB
# estimate_vram leaves the driver where it has no measurement (vram.constants.DRIVER_RESERVED_GIB) and the 0.8 GiB
# NVML sees beside the pool in these runs (nvml peak less reserved peak, 0.73-0.81 GiB), to test a verdict at its edge.
CARDS = {"t4": {"name": "Tesla T4", "total_gib": 14.563, "bf16": False},
         "v100": {"name": "Tesla V100-SXM2-32GB (emulated)", "total_gib": 31.748, "bf16": False},
         "24g": {"name": "RTX 4090-sized card, 24,564 MiB (emulated)", "total_gib": 23.988, "bf16": True},
         "16g": {"name": "RTX 4080-sized card, 16,376 MiB (emulated)", "total_gib": 15.992, "bf16": True},
         "12g": {"name": "12 GiB bf16 card (emulated)", "total_gib": 12.0, "bf16": True},
         "8g": {"name": "8 GiB bf16 card (emulated)", "total_gib": 8.0, "bf16": True},
         "4g": {"name": "4 GiB bf16 card (emulated)", "total_gib": 4.0, "bf16": True},
         "4090": {"name": "RTX 4090, its driver share and context inside (emulated)", "total_gib": 23.988,
                  "allocator_gib": 22.588, "bf16": True}}


def load_config(name: str) -> dict:
    with open(os.path.join(HERE, "configs", f"{name}.json")) as fh:
        return json.load(fh)


def text_fields(config: dict) -> dict:
    """The language model's config (the nested text_config of multimodal models)."""
    for key in ("text_config", "language_config", "llm_config", "thinker_config"):
        sub = config.get(key)
        if isinstance(sub, dict) and ("vocab_size" in sub or "hidden_size" in sub):
            return sub
    return config


def vocab_size(config: dict) -> int:
    """The language model's vocabulary as transformers resolves it (gemma-3-4b-it's file leaves it to the default)."""
    return hf_config(config).get_text_config().vocab_size


def is_multimodal(config: dict) -> bool:
    arch = (config.get("architectures") or [""])[0]
    return "ConditionalGeneration" in arch or any(k in config for k in ("vision_config", "audio_config"))


def hf_config(config: dict):
    from transformers import AutoConfig

    # The published quantisation (gpt-oss ships MXFP4) is not built: Unsloth's 4-bit uploads are bitsandbytes.
    # A deep copy: transformers 5.17 writes into nested dicts it is given (rope_theta into rope_scaling), and the
    # config is recorded with every cell as published.
    fields = copy.deepcopy({k: v for k, v in config.items()
                            if k not in ("transformers_version", "_name_or_path", "quantization_config")})
    cfg = AutoConfig.for_model(fields.pop("model_type"), **fields)
    cfg.use_cache = False
    return cfg


def model_class(config: dict):
    import transformers

    arch = (config.get("architectures") or [None])[0]
    cls = getattr(transformers, arch, None) if arch else None
    if cls is None:
        cls = transformers.AutoModelForImageTextToText if is_multimodal(config) else transformers.AutoModelForCausalLM
    return cls


def save_tokenizer(config: dict, path: str) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    n = vocab_size(config)
    # Unsloth refuses a pad token equal to eos: give each special token an id of its own.
    vocab = {f"t{i}": i for i in range(n - 3)} | {"<pad>": n - 3, "<s>": n - 2, "<unk>": n - 1}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", eos_token="<unk>",
                                   bos_token="<s>", model_max_length=1 << 20)
    fast.save_pretrained(path)


def bnb_config():
    """NF4 with double quantisation and bf16 compute: what Unsloth's `-bnb-4bit` uploads carry."""
    import torch
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16)


def prepare(name: str, path: str, prequantize: bool, build_4bit_only: bool = False, fp8: bool = False) -> None:
    import torch

    spec = load_config(name)
    config = spec["config"]
    if build_4bit_only:
        t0 = time.time()
        n = build_4bit(config, path + "-bnb-4bit")
        print(f"[prepared 4-bit] {name} {n / 1e9:.3f}B params -> {path}-bnb-4bit in {time.time() - t0:.0f}s", flush=True)
        return
    cls = model_class(config)
    t0 = time.time()
    device = build_device(sixteen_bit_bytes(cls, config), torch.cuda.mem_get_info()[0])
    with torch.device(device):
        model = cls._from_config(hf_config(config), dtype=torch.bfloat16)
    model.config.dtype = torch.bfloat16
    # Gemma 2's config sets cache_implementation "hybrid", which transformers 5.17 refuses to save into a
    # generation config whose use_cache is off (round 4: gemma-2-9b never prepared). Training never generates.
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.cache_implementation = None
    save_16bit(model, path)
    save_tokenizer(config, path)
    n = sum(p.numel() for p in model.parameters())
    del model
    gc.collect()
    torch.cuda.empty_cache()
    print(f"[prepared] {name} {n / 1e9:.3f}B params -> {path} in {time.time() - t0:.0f}s", flush=True)
    if prequantize:
        model = cls.from_pretrained(path, quantization_config=bnb_config(), dtype=torch.bfloat16, device_map={"": 0})
        model.save_pretrained(path + "-bnb-4bit", max_shard_size="20GB")
        save_tokenizer(config, path + "-bnb-4bit")
        print(f"[prequantized] {name} -> {path}-bnb-4bit", flush=True)
    if fp8:
        save_fp8(cls, config, path)
        print(f"[fp8 per tensor] {name} -> {path}-fp8", flush=True)


# What Mistral's FP8 uploads keep in 16 bits (Ministral 3's modules_to_not_convert), for a config that lists none.
FP8_KEPT_16BIT = ["model.vision_tower", "model.multi_modal_projector", "lm_head"]


def fp8_kept(config: dict) -> list[str]:
    """The modules an FP8 build of CONFIG leaves in 16 bits: its own quantization_config's list (Ministral 3's repeats
    each name; once is enough), else Mistral's."""
    quant = config.get("quantization_config")
    listed = quant.get("modules_to_not_convert") if isinstance(quant, dict) else None
    return list(dict.fromkeys(listed)) if listed else list(FP8_KEPT_16BIT)


def save_fp8(cls, config: dict, path: str) -> None:
    """Save PATH-fp8: PATH's 16-bit save loaded through transformers' FP8 quantizer and saved, in the layout of
    Mistral's per-tensor FP8 uploads (Ministral 3, Devstral Small 2): each block linear weight float8_e4m3fn with one
    float32 weight_scale_inv, config.json's quantization_config with weight_block_size null.

    transformers 5.17 quantises with weight_block_size None by taking the whole matrix as the block (integrations/
    finegrained_fp8.py, Fp8Quantize._resolve_block_size), so each scale is one value, saved (1, 1) where the layer's
    own parameter is a scalar; Unsloth's kernels/fp8.py takes either as per-tensor (numel() == 1). The activation
    scheme is dynamic where Mistral's is static: static input scales come from calibration data, which random weights
    have none of, and the weights are stored the same either way."""
    import torch
    from transformers import FineGrainedFP8Config

    quant = FineGrainedFP8Config(weight_block_size=None, activation_scheme="dynamic",
                                 modules_to_not_convert=fp8_kept(config))
    model = cls.from_pretrained(path, quantization_config=quant, dtype=torch.bfloat16, device_map={"": 0})
    model.save_pretrained(path + "-fp8", max_shard_size="5GB")
    save_tokenizer(config, path + "-fp8")
    del model
    gc.collect()
    torch.cuda.empty_cache()
    if problems := fp8_problems(path + "-fp8"):
        raise SystemExit(f"{path}-fp8 is not a per-tensor FP8 checkpoint: " + "; ".join(problems))


def fp8_problems(path: str) -> list[str]:
    """What keeps the save in PATH from being a per-tensor FP8 checkpoint (none: []), read from its config.json and
    the safetensors headers (no torch): the cell would otherwise measure another load than the one it is named for."""
    with open(os.path.join(path, "config.json")) as fh:
        quant = json.load(fh).get("quantization_config") or {}
    problems = [] if quant.get("quant_method") == "fp8" else [f"quant_method {quant.get('quant_method')!r}"]
    if quant.get("weight_block_size", "missing") is not None:
        problems.append(f"weight_block_size {quant.get('weight_block_size', 'missing')!r}, not null")
    tensors = safetensors_tensors(path)
    weights = [k for k, (dtype, _) in tensors.items() if k.endswith(".weight") and dtype == "F8_E4M3"]
    scales = [k for k in tensors if k.endswith(".weight_scale_inv")]
    wide = [k for k in scales if tensors[k][0] != "F32" or math.prod(tensors[k][1]) != 1]
    if not weights:
        problems.append("no float8_e4m3fn weight")
    if len(scales) != len(weights) or wide:
        problems.append(f"{len(weights)} FP8 weights, {len(scales)} scales, {len(wide)} of them not one float32 value")
    return problems


def safetensors_tensors(path: str) -> dict[str, tuple[str, list[int]]]:
    """{name: (dtype, shape)} of every tensor in PATH's safetensors files, from their JSON headers."""
    out = {}
    for file in sorted(f for f in os.listdir(path) if f.endswith(".safetensors")):
        with open(os.path.join(path, file), "rb") as fh:
            header = json.loads(fh.read(int.from_bytes(fh.read(8), "little")))
        out.update({k: (v["dtype"], v["shape"]) for k, v in header.items() if k != "__metadata__"})
    return out


def save_16bit(model, path: str) -> None:
    """Save a 16-bit build; where the save runs out of GPU memory, move the model to RAM and save again.

    transformers 5.17 saves fused MoE experts back in their per-expert checkpoint layout (revert_weight_conversion),
    which copies them on the model's device: GLM-4.7-Flash's 55.8 GiB build fitted an H100 but its save did not
    (round 56). The shards written before the failure are written again."""
    import torch

    try:
        with spill_when_full(path):
            model.save_pretrained(path, max_shard_size="5GB")
        return
    except torch.OutOfMemoryError as exc:
        print(f"[build] saving on the GPU ran out of memory ({str(exc)[:80]}...): saving from RAM", flush=True)
    gc.collect()
    torch.cuda.empty_cache()
    model.to("cpu")
    torch.cuda.empty_cache()
    with spill_when_full(path):
        model.save_pretrained(path, max_shard_size="5GB")


BUILD_ROOM = 2 << 30  # bytes a 16-bit build on the GPU leaves free for the lanes training beside it


def sixteen_bit_bytes(cls, config: dict) -> int:
    """The model's parameters in 16 bits, counted on a build on the meta device (no memory); 0 where a model's
    construction does not run there (it is then built on the GPU, as before round 54e)."""
    import torch

    try:
        with torch.device("meta"):
            return 2 * sum(p.numel() for p in cls._from_config(hf_config(config), dtype=torch.bfloat16).parameters())
    except Exception as exc:  # noqa: BLE001 - any failure only loses the check
        print(f"[build] not counted on the meta device ({type(exc).__name__}: {exc})", flush=True)
        return 0


def build_device(need_bytes: int, free_bytes: int) -> str:
    """Where `prepare` builds a model of NEED_BYTES in 16 bits: the GPU (fast) when its free memory holds the build and
    BUILD_ROOM beside it, else the CPU. Round 54c: on an H100, Command R 08-2024's 60.8 GiB build ran beside two
    other lanes' builds and all three ran out of memory; the batch now prepares one model at a time, and a build the
    GPU cannot hold beside the cells training there is made in RAM (slower, but it ends)."""
    device = "cuda" if free_bytes >= need_bytes + BUILD_ROOM else "cpu"
    print(f"[build] {need_bytes / 2**30:.1f} GiB in 16 bits, {free_bytes / 2**30:.1f} GiB free on the GPU: "
          f"built on the {device.upper()}", flush=True)
    return device


SPILL = "/tmp/m-spill"  # shards that do not fit the model's folder (the batch removes it with the model)
RESERVE = 6 << 30  # bytes left free where the model is saved: the loader's own RAM comes from the same pool


@contextlib.contextmanager
def spill_when_full(path: str):
    """Let `save_pretrained` write shards that no longer fit PATH's filesystem to SPILL's, linked from PATH.

    Qwen3.5-35B-A3B's 16-bit save (70 GB) fits neither /dev/shm nor the disk of a one-GPU machine whose /dev/shm
    is half its 128 GiB of RAM (round 11's had all of it), but fits both together. Shards are 5 GB (20 GB before
    round 11) so that little is left unused where the first filesystem fills. Each shard goes where it fits; PATH holds a symlink to any shard written
    elsewhere, so the checkpoint reads as one folder and loads through the same code as any other.
    """
    import transformers.modeling_utils as mu

    write = mu.safe_save_file

    def write_or_spill(tensors, filename, metadata=None):
        size = sum(t.numel() * t.element_size() for t in tensors.values())
        if shutil.disk_usage(os.path.dirname(filename)).free - size > RESERVE:
            return write(tensors, filename, metadata=metadata)
        os.makedirs(SPILL, exist_ok=True)
        target = os.path.join(SPILL, os.path.basename(os.path.dirname(filename)) + "-" + os.path.basename(filename))
        write(tensors, target, metadata=metadata)
        os.symlink(target, filename)
        print(f"[spilled] {os.path.basename(filename)} ({size / 2**30:.1f} GiB) -> {target}", flush=True)

    mu.safe_save_file = write_or_spill
    try:
        yield
    finally:
        mu.safe_save_file = write


def build_4bit(config: dict, path: str, device: str = "cuda") -> int:
    """Save a bitsandbytes NF4 checkpoint of CONFIG with random weights, never holding it in 16 bits.

    The skeleton is built on the meta device and transformers' own bitsandbytes quantizer swaps its
    Linear layers for `Linear4bit` (`preprocess_model`: the same modules, the same ones left 16-bit
    as `from_pretrained(quantization_config=...)` picks). Each 4-bit weight is then drawn as one bf16
    tensor on DEVICE and quantised at once, as transformers' `Bnb4bitQuantize` does while loading, so
    at most one 16-bit Linear exists at a time; everything else (embeddings, norms, lm_head, rotary
    buffers) is materialised and initialised by the model's own `initialize_weights`. The save is
    what `save_pretrained` writes for a 4-bit model (weight + absmax, quant_map, nested_*, quant_state
    per layer, `quantization_config` in config.json). Returns the parameter count (unpacked).
    """
    import bitsandbytes as bnb
    import torch
    from transformers.quantizers import AutoHfQuantizer
    from transformers.utils import ContextManagers

    if config.get("model_type") == "gpt_oss":
        split_gpt_oss_experts()
    cls = model_class(config)
    quantizer = AutoHfQuantizer.from_config(bnb_config(), pre_quantized=False)
    # As from_pretrained builds it: on meta, bf16, weights not yet tied. Tying first would hide lm_head from the
    # quantizer's "last module stays 16-bit" rule and leave another module (Gemma 4's embed_vision) 16-bit.
    with ContextManagers(cls.get_init_context(torch.bfloat16, True, False, None)):
        model = cls(hf_config(config))
        quantizer.preprocess_model(model=model, dtype=torch.bfloat16, device_map={"": device})
    std = getattr(model.config.get_text_config(), "initializer_range", None) or 0.02
    per_expert = per_expert_stacks(model, config)
    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            _random_4bit(module, std, device)
        elif module in per_expert.values():
            continue  # written expert by expert, in 4 bits (save_per_expert_4bit)
        elif any(t.is_meta for t in list(module.parameters(recurse=False)) + list(module.buffers(recurse=False))):
            module.to_empty(device=device, recurse=False)
    model.tie_weights()  # built untied, as from_pretrained does
    model.initialize_weights()  # skips the 4-bit layers (marked initialised)
    # The loader's cast: everything in bf16 but what the model keeps in fp32 (sub-configs may say float32:
    # Qwen2.5-VL's text and vision configs do, and build so without it).
    keep_fp32 = model._get_dtype_plan(torch.bfloat16)
    for name, p in model.named_parameters():
        if p.is_floating_point() and not any(k in name for k in keep_fp32):
            p.data = p.data.to(torch.bfloat16)
    n = sum(p.numel() for p in model.parameters() if not isinstance(p, bnb.nn.Params4bit)) + sum(
        m.in_features * m.out_features for m in model.modules() if isinstance(m, bnb.nn.Linear4bit))
    model.hf_quantizer = quantizer
    quantizer.postprocess_model(model)  # config.quantization_config, is_loaded_in_4bit
    model.config.dtype = torch.bfloat16
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.cache_implementation = None  # see prepare()
    if per_expert:
        save_per_expert_4bit(model, per_expert, PER_EXPERT_LAYOUT[config["model_type"]], std, path, device)
    else:
        model.save_pretrained(path, max_shard_size="5GB")
    save_tokenizer(config, path)
    return n


# The families whose Hub checkpoints store each expert's projections as tensors of their own, which transformers
# 5.17 merges into 3-D stacks while loading (conversion_mapping.py: Mixtral's w1/w3/w2 under block_sparse_moe, renamed
# to mlp; the qwen2_moe pattern's gate_proj/up_proj/down_proj, which qwen3_moe, deepseek_v3, glm4_moe_lite and
# ernie4_5_moe take). Unsloth's `-bnb-4bit` uploads of
# them were saved before that: one NF4 tensor an expert and projection, with its quant state beside it, which
# unsloth_zoo 2026.10.9 (temporary_patches/moe_utils_bnb4bit.py, PR 856) reassembles into one 4-bit stack a layer.
# transformers' own quantizer leaves the 3-D stacks 16-bit (bitsandbytes replaces nn.Linear only), and its save would
# write them so: a 16-bit copy of the experts, not what a user downloads. Module in the checkpoint, gate, up, down.
_QWEN2_MOE_LAYOUT = ("mlp", "gate_proj", "up_proj", "down_proj")  # the qwen2_moe pattern and the types it takes in
PER_EXPERT_LAYOUT = {"mixtral": ("block_sparse_moe", "w1", "w3", "w2"),
                     **dict.fromkeys(("qwen2_moe", "qwen3_moe", "deepseek_v3", "glm4_moe_lite", "ernie4_5_moe"),
                                     _QWEN2_MOE_LAYOUT)}


def per_expert_stacks(model, config: dict) -> dict:
    """{layer prefix: experts module} for the fused 3-D expert stacks of a PER_EXPERT_LAYOUT family; {} otherwise."""
    if config.get("model_type") not in PER_EXPERT_LAYOUT:
        return {}
    return {name.rsplit(".", 2)[0]: m for name, m in model.named_modules()
            if getattr(getattr(m, "gate_up_proj", None), "ndim", 0) == 3 and getattr(m, "down_proj", None) is not None}


def save_per_expert_4bit(model, stacks: dict, layout: tuple, std: float, path: str, device: str) -> None:
    """Write MODEL as a `-bnb-4bit` upload of a per-expert family is laid out: every Linear4bit and 16-bit tensor as
    save_pretrained writes it, each expert's gate, up and down projection drawn N(0, std) in bf16 and quantised alone
    to NF4 (double quantisation, as bnb_config), its packed bytes and quant state under the checkpoint's own names.
    Sharded at about 5 GB, with the index and config transformers reads."""
    import bitsandbytes as bnb
    import torch

    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items() if not v.is_meta}
    if getattr(model.config.get_text_config(), "tie_word_embeddings", False):
        tensors.pop("lm_head.weight", None)
    block, gate, up, down = layout
    for prefix, experts in stacks.items():
        n, two_i, hidden = experts.gate_up_proj.shape
        inner = experts.down_proj.shape[2]
        for e in range(n):
            for proj, shape in ((gate, (two_i // 2, hidden)), (up, (two_i // 2, hidden)), (down, (hidden, inner))):
                w = torch.empty(shape, dtype=torch.bfloat16, device=device).normal_(0.0, std)
                packed, state = bnb.functional.quantize_4bit(w, blocksize=64, compress_statistics=True,
                                                             quant_type="nf4", quant_storage=torch.uint8)
                key = f"{prefix}.{block}.experts.{e}.{proj}.weight"
                tensors[key] = packed.cpu()
                for aux, value in state.as_dict(packed=True).items():
                    tensors[f"{key}.{aux}"] = value.cpu()
    write_shards(tensors, path)
    model.config.save_pretrained(path)


def write_shards(tensors: dict, path: str, limit: int = 5 * 10**9) -> None:
    """TENSORS as safetensors shards of at most about LIMIT bytes in PATH, with the index transformers reads."""
    import json
    import os

    from safetensors.torch import save_file

    os.makedirs(path, exist_ok=True)
    nbytes = {k: t.numel() * t.element_size() for k, t in tensors.items()}
    shards, size = [[]], 0
    for key in tensors:
        if size and size + nbytes[key] > limit:
            shards.append([])
            size = 0
        shards[-1].append(key)
        size += nbytes[key]
    weight_map = {}
    for i, keys in enumerate(shards, 1):
        name = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
        save_file({k: tensors[k] for k in keys}, os.path.join(path, name), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(keys, name))
    with open(os.path.join(path, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": sum(nbytes.values())}, "weight_map": weight_map}, f)


def split_gpt_oss_experts() -> None:
    """Build gpt-oss with Unsloth's split expert classes, the layout of its `-unsloth-bnb-4bit` uploads.

    transformers' GptOssExperts holds each layer's experts as fused 3-D parameters, which the bitsandbytes
    quantizer leaves 16-bit; Unsloth's uploads (what `load_in_4bit=True` maps `unsloth/gpt-oss-20b` to) store
    one Linear per expert (`experts.gate_up_projs.N`, `experts.down_projs.N`, each 4-bit) and the router as
    `router.linear`, kept 16-bit. unsloth_zoo's `patch_gpt_oss_bnb4bit` swaps those classes into
    transformers, as Unsloth's loader does before it reads such a checkpoint, so the quantizer then sees and
    quantises every expert Linear. Without a bf16 GPU Unsloth refuses to quantise the fused layout on load,
    so its no-bf16 path can be measured only from this save. Needs a GPU (Unsloth's import does).
    """
    import unsloth  # noqa: F401  (before transformers' model classes are used)
    from unsloth_zoo.temporary_patches.gpt_oss import patch_gpt_oss_bnb4bit

    patch_gpt_oss_bnb4bit()


def _random_4bit(module, std: float, device: str) -> None:
    """Give a meta `Linear4bit` random N(0, std) weights, quantised from one bf16 tensor on DEVICE."""
    import bitsandbytes as bnb
    import torch

    old = module.weight
    value = torch.empty(old.shape, dtype=torch.bfloat16, device=device).normal_(0.0, std)
    module.weight = bnb.nn.Params4bit(value, requires_grad=False, **old.__dict__).to(device)
    if module.bias is not None:
        module.bias = torch.nn.Parameter(torch.zeros(old.shape[0], dtype=torch.bfloat16, device=device), requires_grad=False)
    # As the loader flags loaded tensors: initialize_weights then leaves them alone, also where a parent's init
    # reaches into its children (SigLIP's attention inits q_proj.weight itself).
    for t in (module.weight, module.bias):
        if t is not None:
            t._is_hf_initialized = True
    module._is_hf_initialized = True
    del value


# ---------------------------------------------------------------------------------------------
# Emulating a smaller card without bf16


# What an emulated card's mem_get_info holds back from the free memory it reports, where its cap leaves the CUDA context
# out (every card but "4090"): a stand-in for the context a real card's free memory has already lost (rounds 5-77).
# The "4090" cap already leaves out the driver's share and the context, so from round 79 on it holds back nothing
# (rounds 77 and 78's two cells on it saw 500 MiB less than a real RTX 4090 shows).
FREE_MARGIN_BYTES = 500 * 2**20


def free_margin_bytes(spec: dict) -> int:
    return 0 if "allocator_gib" in spec else FREE_MARGIN_BYTES


def unsloth_card_gib(spec: dict, context_gib: float, driver_gib: float) -> float:
    """The memory of a real card whose free memory after its driver's share and CUDA context is what the emulated
    card (CARDS[...]) lets Unsloth read before loading: what estimate_vram is asked for that card's cells."""
    return spec.get("allocator_gib", spec["total_gib"]) - free_margin_bytes(spec) / 2**30 + context_gib + driver_gib


def emulate_card(card: str):
    """Patch torch so that Unsloth sizes itself for CARDS[card]; returns (record, after_import).

    Before Unsloth is imported: the card's total and free memory (the caching allocator is capped to
    it) and, for a card without bf16, no bf16 support. The cap is set with
    set_per_process_memory_fraction, but get_per_process_memory_fraction reports 1.0: Unsloth computes
    the memory it can use as min(free + reserved - allocated, total x fraction - allocated), and with
    the card's total beside the H200's fraction that read as zero, so rounds 1-5 made Unsloth offload
    its input-side embeddings on every emulated card ("Offloading embeddings to RAM"), which a real T4
    does only when short of memory. `after_import()` turns Unsloth's own bf16 flag off on a card without
    it, which its loader and trainer read at call time (dtype float16, its float32-forced families, fp16 training). The
    compute capability is left alone: Triton compiles for the capability torch reports, and sm_75
    code does not run on an H100/H200, so choices Unsloth makes from the capability (its padded vs
    padding-free rule) follow the real card.
    """
    import torch

    spec = CARDS[card]
    total_bytes = int(spec["total_gib"] * 2**30)
    cap_bytes = int(spec.get("allocator_gib", spec["total_gib"]) * 2**30)
    real_total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(min(1.0, cap_bytes / real_total), 0)
    real_props, real_info = torch.cuda.get_device_properties, torch.cuda.mem_get_info

    class Props:
        def __init__(self, inner):
            self._inner = inner

        def __getattr__(self, item):
            return getattr(self._inner, item)

        total_memory = total_bytes
        name = spec["name"]

    margin = free_margin_bytes(spec)  # held back from the free memory the card reports

    def mem_get_info(device=None):
        free, _ = real_info(device)
        return max(0, min(free, cap_bytes - torch.cuda.memory_reserved() - margin)), total_bytes

    torch.cuda.get_device_properties = lambda device=None: Props(real_props(0 if device is None else device))
    torch.cuda.mem_get_info = mem_get_info
    torch.cuda.get_per_process_memory_fraction = lambda device=None: 1.0
    patched = ["torch.cuda.get_device_properties (total_memory, name)", "torch.cuda.mem_get_info",
               "torch.cuda.set_per_process_memory_fraction", "torch.cuda.get_per_process_memory_fraction (reports 1.0)"]
    if not spec["bf16"]:
        torch.cuda.is_bf16_supported = lambda *a, **k: False
        patched[:0] = ["torch.cuda.is_bf16_supported", "unsloth.models._utils.SUPPORTS_BFLOAT16 (after import)"]

    def after_import() -> None:
        import unsloth.models._utils as unsloth_utils

        if not spec["bf16"]:
            unsloth_utils.SUPPORTS_BFLOAT16 = False

    record = {"card": card, "name": spec["name"], "total_gib": spec["total_gib"], "bf16": spec["bf16"],
              "allocator_gib": spec.get("allocator_gib", spec["total_gib"]), "free_margin_gib": round(margin / 2**30, 3),
              "patched": patched,
              "not_patched": "compute capability (Triton compiles for it)"}
    return record, after_import


# ---------------------------------------------------------------------------------------------
# One process: load, wrap, then train each shape


def load(path: str, config: dict, method: str, rank: int, max_seq: int):
    from unsloth import FastLanguageModel, FastModel

    # Qwen3.5 goes through FastModel even as a bare language model, as Unsloth's Qwen3.5 notebooks load it (its
    # LoRA targets then reach the Gated DeltaNet projections, as they did on Qwen3.5-27B).
    by_kind = is_multimodal(config) or text_fields(config).get("model_type", "").startswith("qwen3_5")
    loader = FastModel if by_kind else FastLanguageModel
    model, tokenizer = loader.from_pretrained(
        model_name=path, max_seq_length=max_seq, dtype=None, load_in_4bit=method == "qlora",
        full_finetuning=method == "full", local_files_only=True,
    )
    if method != "full":
        kwargs = dict(r=rank, lora_alpha=rank, lora_dropout=0, bias="none", use_gradient_checkpointing="unsloth",
                      random_state=3407)
        if loader is FastModel:
            kwargs.update(finetune_vision_layers=False, finetune_language_layers=True, finetune_attention_modules=True,
                          finetune_mlp_modules=True)
        else:
            kwargs["target_modules"] = lora_targets()
        model = loader.get_peft_model(model, **kwargs)
    return model, tokenizer, loader.__name__


def lora_targets(env: Mapping[str, str] = os.environ) -> list[str]:
    """The LoRA target modules: all linear projections, or the list a plan gives with `--env CALIB_TARGETS=a,b`
    (read from the environment, so that it is part of the cell's id like any other switch)."""
    given = env.get("CALIB_TARGETS")
    return given.split(",") if given else list(LINEAR)


# Names PEFT sees in families that call the estimator's projections otherwise (LFM2: its attention's out_proj, its MLP's
# w1 / w3 / w2). LFM2's convolutions' in_proj and out_proj have no equal there: the estimator counts them as reached
# whenever attention is (finetune_advisor/vram/shapes.py, CONV_LORA).
ESTIMATOR_NAMES = {"out_proj": "o_proj", "w1": "gate_proj", "w3": "up_proj", "w2": "down_proj"}


def estimator_targets(names: list[str]) -> tuple[str, ...]:
    """A cell's LoRA targets in the estimator's names (LINEAR), those it has no equal for left out."""
    mapped = (ESTIMATOR_NAMES.get(name, name) for name in names)
    return tuple(dict.fromkeys(name for name in mapped if name in LINEAR))


OVER_FP8 = "fp8"  # the --quant of a cell whose QLoRA call loads a per-tensor FP8 save: Unsloth trains LoRA over it


def estimator_storage(quant_form: str | None) -> str:
    """A cell's 4-bit form (its record's quant_form, the plan's --quant) as the estimator's RunConfig.storage: a
    pre-quantised save loads as a -bnb-4bit upload, anything else from 16-bit weights (an FP8 save too: its cell is
    estimated as 16-bit LoRA, then less what the FP8 weights save, as the product's answer counts it)."""
    return "bnb-4bit" if quant_form == "prequantized" else "16bit"


def router_aux_loss(env: Mapping[str, str] = os.environ) -> float | None:
    """The router aux loss weight a plan sets with `--env CALIB_ROUTER_AUX_LOSS=0` (SFTConfig's
    router_aux_loss_coef; trl then leaves output_router_logits off), or None: trl's default, the config's own."""
    given = env.get("CALIB_ROUTER_AUX_LOSS")
    return float(given) if given else None


def first_step_trials(env: Mapping[str, str]) -> bool:
    """Whether a cell's first step can keep the block-compile trials of a MoE whose router aux loss trl turns on
    (finetune_advisor/vram/families.py): not with the aux loss off (CALIB_ROUTER_AUX_LOSS=0, measured in round 20),
    nor with Unsloth's per-layer compile off (UNSLOTH_BLOCK_COMPILE=0: no trial runs; read in Unsloth's code, round 21
    measures it). The estimator's RunConfig.router_aux_loss=False stands for both."""
    aux = router_aux_loss(env)
    return (aux is None or aux > 0) and env.get("UNSLOTH_BLOCK_COMPILE") != "0"


def host_embedding_bytes(model) -> int:
    """Bytes of embedding tables left in host RAM after loading and wrapping: Unsloth's offload_embedding="auto"
    moves the input-side tables that lm_head does not share (Gemma 3n / 4 per-layer tables too) when it
    judges the card short of memory."""
    import torch

    return sum(m.weight.numel() * m.weight.element_size() for m in model.modules()
               if isinstance(m, torch.nn.Embedding) and m.weight is not None and m.weight.device.type == "cpu")


def parameter_bytes(model) -> dict:
    """Bytes of parameters and buffers by dtype (4-bit weights show as uint8, FP8 ones as float8_e4m3fn at a byte
    each: what Unsloth kept of an FP8 checkpoint loaded with load_in_4bit=True)."""
    out: dict[str, int] = {}
    seen = set()
    for t in list(model.parameters()) + list(model.buffers()):
        if id(t) in seen:
            continue
        seen.add(id(t))
        key = str(t.dtype).removeprefix("torch.")
        out[key] = out.get(key, 0) + t.numel() * t.element_size()
    return out


def dataset(rows: int, seq: int, vocab: int, lengths: list[int] | None = None):
    """`rows` rows of exactly `seq` random tokens, or of `lengths` tokens each (CALIB_VARY)."""
    import torch
    from datasets import Dataset

    g = torch.Generator().manual_seed(rows * 7919 + seq)
    # Token 0 is left out: it is the padding row Gemma's embedding keeps at zero, and Unsloth stops a run whose rows
    # hold a token with an all-zero embedding ("Untrained tokens in rows [[5]] found": Gemma 3 4B at 2x4096, round 19).
    # The last three ids are the stand-in tokenizer's special tokens.
    ids = torch.randint(1, vocab - 3, (rows, seq), generator=g).tolist()
    if lengths is not None:
        ids = [row[:n] for row, n in zip(ids, lengths, strict=True)]
    return Dataset.from_dict({"input_ids": ids})


# With CALIB_VARY=N in a cell's --env (a cell of its own, kept out of the fits), the cell trains N steps on rows of
# varied length in a fixed order, as a notebook's data gives them, instead of STEPS steps of identical rows: does a
# run whose micro-batches change shape every step hold more at its longest than a run of that shape alone (Unsloth's
# notebooks printed peaks 0.5-1.5 GiB above our fixed-length figures, bench/vram_accuracy/README.md)? The rows of step
# N // 2 are all exactly S tokens, so the longest micro-batch is the cell's shape BxS and the cell is predicted as the
# fixed one; every other row draws its length uniformly from S // 8 to S.
def varied_lengths(batch: int, steps: int, seq: int) -> list[int]:
    import random

    rng = random.Random(steps * 7919 + seq)
    lengths = [rng.randint(max(1, seq // 8), seq) for _ in range(batch * steps)]
    middle = (steps // 2) * batch
    lengths[middle:middle + batch] = [seq] * batch
    return lengths


def pool_peaks() -> dict[str, int | None]:
    """The caching allocator's peak reservation by pool since the last reset: blocks of 1 MiB or less come from a
    small pool that large allocations never reuse, and a MoE's per-expert 4-bit tensors can be that small (Qwen3-30B-A3B's
    are 0.75 MiB), which may be why its pre-quantised load holds more than other families' (round 69)."""
    import torch

    stats = torch.cuda.memory_stats()
    return {pool: stats.get(f"reserved_bytes.{pool}_pool.peak") for pool in ("small", "large")}


def vary_steps(env: Mapping[str, str] = os.environ) -> int | None:
    """CALIB_VARY's step count, None when the cell's rows are all of its length."""
    value = env.get("CALIB_VARY")
    return int(value) if value else None


# With CALIB_PROFILE=1 in a cell's --env (which makes it a cell of its own, left out of every fit), one steady step
# runs under torch.profiler: where a short step's time goes (issue 15: a floor of 0.3-0.5 s a step that the model's
# FLOPs do not explain). The step is the third; the first compiles and autotunes.
PROFILE_STEP = 2


class StepTimer:
    """A trl/transformers callback that times each optimizer step on the GPU clock, records each step's own
    allocator peaks (`step_peaks`: allocated and reserved bytes, the peak statistics reset between steps, so a
    fresh process's first step shows whether it holds more than the later ones; `before` is the peak until the
    first step began: the load), profiles one step (CALIB_PROFILE) or traces its allocations (CALIB_MEMTRACE,
    memtrace.py) when asked, and ends training early where another step would pass `deadline`
    (stop_before_deadline)."""

    def __new__(cls, deadline: float | None = None):
        import torch
        from transformers import TrainerCallback

        import memtrace

        profile = os.environ.get("CALIB_PROFILE") == "1"
        trace = memtrace.traced_step(os.environ.get("CALIB_MEMTRACE"))

        class _Timer(TrainerCallback):
            def __init__(self):
                self.times: list[float] = []
                self.step_peaks: list[list[int]] = []
                self.before: list[int] | None = None
                self.profile: dict | None = None
                self.memtrace: dict | None = None
                self._t = 0.0
                self._prof = None

            def on_step_begin(self, args, state, control, **kw):
                torch.cuda.synchronize()
                if self.before is None:
                    self.before = _allocator_peaks()
                torch.cuda.reset_peak_memory_stats()
                if profile and len(self.times) == PROFILE_STEP:
                    from torch.profiler import ProfilerActivity
                    from torch.profiler import profile as torch_profile

                    self._prof = torch_profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA])
                    self._prof.__enter__()
                if trace is not None and len(self.times) == trace:
                    self.memtrace = {"allocated_at_start_bytes": torch.cuda.memory_allocated()}
                    memtrace.start()
                self._t = time.perf_counter()

            def on_step_end(self, args, state, control, **kw):
                torch.cuda.synchronize()
                self.times.append(time.perf_counter() - self._t)
                self.step_peaks.append(_allocator_peaks())
                if self._prof is not None:
                    self._prof.__exit__(None, None, None)
                    self.profile = profile_summary(self._prof.key_averages(), self.times[-1])
                    self._prof = None
                if self.memtrace is not None and "step_peak_allocated_bytes" not in self.memtrace:
                    self.memtrace["step_peak_allocated_bytes"] = self.step_peaks[-1][0]
                    try:
                        self.memtrace.update(memtrace.stop())
                    except Exception as exc:  # noqa: BLE001 - a diagnostic, never a reason to lose the cell
                        self.memtrace["error"] = f"{type(exc).__name__}: {exc}"[:300]
                if state.global_step < args.max_steps and stop_before_deadline(self.times, time.time(), deadline):
                    control.should_training_stop = True

        return _Timer()


# Round 42's Gemma 4 12B at 98,304 tokens (steps of 110-137 s) was killed by its lane's timeout during its fourth
# step and left no record, though three steps had run. A cell now stops after the step that leaves too little time
# for one more (MIN_STEPS at least: the first step holds what a fresh process's first step adds, the second is a
# steady one), and its record says how many steps it ran.
MIN_STEPS = 2
STOP_SPARE_S = 30  # what writing the record and the slowest next step's overrun need beyond one more step


def stop_before_deadline(times: list[float], now: float, deadline: float | None) -> bool:
    """Whether a cell that has run steps of `times` seconds must stop now to keep its record before `deadline`."""
    if deadline is None or len(times) < MIN_STEPS:
        return False
    return now + max(times[1:]) * 1.1 + STOP_SPARE_S > deadline


def _allocator_peaks() -> list[int]:
    import torch

    return [torch.cuda.max_memory_allocated(), torch.cuda.max_memory_reserved()]


def profile_summary(averages, wall_s: float, top: int = 12) -> dict:
    """One profiled step: its wall time against the time the GPU spent in kernels, how many kernels it launched,
    and the operators that took most host time and most device time. A step whose GPU is busy for a small part of
    its wall time is bound by the host (Python, launches, synchronisation), not by the model's FLOPs."""
    device = lambda e: getattr(e, "self_device_time_total", None) or getattr(e, "self_cuda_time_total", 0)  # noqa: E731
    kernels, ops = [], []
    for e in averages:
        (kernels if "CUDA" in str(getattr(e, "device_type", "")) else ops).append(e)
    busy_us = sum(device(e) for e in kernels)
    by_cpu = sorted(ops, key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
    by_gpu = sorted(averages, key=device, reverse=True)[:top]
    return {"step_wall_s": round(wall_s, 4), "gpu_kernel_s": round(busy_us / 1e6, 4),
            "kernel_launches": sum(e.count for e in kernels),
            "top_host_ms": [[e.key[:80], e.count, round(e.self_cpu_time_total / 1e3, 2)] for e in by_cpu],
            "top_device_ms": [[e.key[:80], e.count, round(device(e) / 1e3, 2)] for e in by_gpu]}


def train_shape(model, tokenizer, batch: int, seq: int, vocab: int, bf16: bool, outdir: str, deadline: float | None = None):
    from trl import SFTConfig, SFTTrainer

    vary = vary_steps()
    steps = vary or STEPS
    lengths = varied_lengths(batch, steps, seq) if vary else None
    cfg = SFTConfig(
        output_dir=outdir, per_device_train_batch_size=batch, gradient_accumulation_steps=1, max_steps=steps,
        learning_rate=2e-4, warmup_steps=0, optim="adamw_8bit", weight_decay=0.001, lr_scheduler_type="linear",
        bf16=bf16, fp16=not bf16, logging_steps=1, report_to="none", save_strategy="no", seed=3407,
        max_length=seq, packing=False, dataset_num_proc=1, dataloader_num_workers=0,
        **({} if router_aux_loss() is None else {"router_aux_loss_coef": router_aux_loss()}),
        **({"train_sampling_strategy": "sequential"} if lengths else {}),  # the rows' order as `varied_lengths` laid it
    )
    timer = StepTimer(None if lengths else deadline)  # a varied cell's longest step is its middle one: all or nothing
    trainer = SFTTrainer(model=model, processing_class=tokenizer, train_dataset=dataset(batch * steps, seq, vocab, lengths),
                         args=cfg, callbacks=[timer])
    ran_with = {k: getattr(trainer.args, k, None) for k in ("padding_free", "packing", "max_length", "bf16", "fp16", "optim",
                                                       "router_aux_loss_coef")}
    trainer.train()
    if timer.profile is not None:
        ran_with["profile"] = timer.profile
    if timer.memtrace is not None:
        ran_with["memtrace"] = timer.memtrace
    ran_with["step_peaks"] = {"before": timer.before, "steps": timer.step_peaks}
    if lengths:
        ran_with["varied_rows"] = {"steps": steps, "row_lengths": lengths}
    if len(timer.times) < steps:
        ran_with["stopped_early"] = f"{len(timer.times)} of {steps} steps: another would have passed the deadline"
    return trainer, timer.times, ran_with


def cell_id(name, method, quant, rank, batch, seq, emulate, env, label=None) -> str:
    """The id unsloth_batch.py also derives from a plan line. `label` (--tag) tells a repeat apart, e.g. a
    cell measured again first in a fresh process, so that the batch does not skip it as already done."""
    tag = f"{method}-{quant}" if method == "qlora" else method
    extra = "".join(f"/{e}" for e in ([emulate] if emulate else []) + sorted(env) + ([label] if label else []))
    return f"{name}/{tag}/r{rank if method != 'full' else 16}/b{batch}x{seq}{extra}"


def run(name: str, path: str, method: str, out: str, shapes: list[tuple[int, int]], rank: int, emulate: str | None,
        quant: str, deadline: float | None, env: list[str], label: str | None = None) -> None:
    from hybrid_kernels import kernels_record
    from memory import ProcessMemory, cuda_stat, release

    for item in env:  # switches Unsloth reads at import (e.g. UNSLOTH_COMPILE_DISABLE=1)
        key, _, value = item.partition("=")
        os.environ[key] = value
    import torch

    pm = ProcessMemory("cuda")
    pm.init_cuda()
    machine = versions(pm)  # the real card, before any emulation
    emulation, after_import = emulate_card(emulate) if emulate else (None, lambda: None)
    import unsloth  # noqa: F401  (must come before transformers)

    after_import()

    spec = load_config(name)
    config = spec["config"]
    vocab = vocab_size(config)
    t0 = time.time()
    # The load as a user's process sees it: NVML for this process from before the load, and the
    # allocator's reservation after it, which a user's process keeps (nothing empties the cache).
    with ProcessPeakSampler(pm) as load_sampler:
        model, tokenizer, loader = load(path, config, method, rank, max(s for _, s in shapes))
    load_s = time.time() - t0
    load_peaks = {"load_nvml_process_peak_bytes": load_sampler.peak, "load_peak_reserved_bytes": cuda_stat("max_memory_reserved"),
            "reserved_after_load_bytes": cuda_stat("memory_reserved"), "load_pool_peaks": pool_peaks()}
    base = {
        "arch": name, "hf_repo": spec.get("hf_repo"), "config": config, "method": method, "stack": "unsloth",
        "optimizer": "adamw_8bit", "lora_rank": rank if method != "full" else None,
        "target_modules": lora_targets() if method != "full" and loader == "FastLanguageModel" else None, "quant_form": quant if method == "qlora" else None,
        "loader": loader, "emulation": emulation, "env": env, "num_gpus": 1, "steps": vary_steps() or STEPS, "load_s": round(load_s, 1),
        "weights_bytes": cuda_stat("memory_allocated"), "parameter_bytes": parameter_bytes(model),
        "host_embedding_bytes": host_embedding_bytes(model), **load_peaks, "kernels": kernels_record(model),
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "total_params": sum(p.numel() for p in model.parameters()),
        "model_dtype": str(getattr(model, "dtype", None)), "cuda_context_bytes": pm.cuda_context_bytes,
        "concurrent_jobs": int(os.environ.get("CALIB_CONCURRENT", "1")), **machine, **versions(pm, packages_only=True),
    }
    bf16 = (emulation is None or emulation["bf16"]) and torch.cuda.is_bf16_supported()
    failed_at = None
    for i, (batch, seq) in enumerate(sorted(shapes, key=lambda s: (s[0] * s[1], s[0]))):
        cell = cell_id(name, method, quant, rank, batch, seq, emulate, env, label)
        rec = {"cell": cell, **base, "batch_size": batch, "seq_len": seq, "tokens_per_step": batch * seq,
               "first_in_process": i == 0, "cache_kept_from_load": i == 0}
        if failed_at is not None and batch * seq >= failed_at:
            rec.update(status="skipped", error=f"a smaller shape ({failed_at} tokens) ran out of memory")
        elif deadline and time.time() > deadline:
            rec.update(status="skipped", error="deadline")
        else:
            rec.update(measure(model, tokenizer, batch, seq, vocab, bf16, pm, deadline))
            if rec["status"] == "oom":
                failed_at = batch * seq
        write(out, rec)
        release()


def measure(model, tokenizer, batch, seq, vocab, bf16, pm, deadline: float | None = None) -> dict:
    """One shape's training steps. The first shape of a process starts on the allocator as the load
    left it (as a user's run does); later shapes start from an emptied cache with reset peaks."""
    import torch

    from memory import PeakSampler, cuda_stat

    rec: dict = {}
    sampler = ProcessPeakSampler(pm)
    trainer = None
    t0 = time.time()
    try:
        with PeakSampler(pm.nvml) as device_sampler, sampler:
            trainer, times, ran_with = train_shape(model, tokenizer, batch, seq, vocab, bf16, "/tmp/sft-out", deadline)
        steady = sorted(times[1:]) or times
        step_s = steady[len(steady) // 2]
        profiled = ran_with.pop("profile", None)
        traced = ran_with.pop("memtrace", None)
        peaks = ran_with.pop("step_peaks")
        varied = ran_with.pop("varied_rows", None)
        stopped = ran_with.pop("stopped_early", None)
        rec.update(status="ok", error=None, step_times_s=[round(t, 4) for t in times], step_s=round(step_s, 4),
                   tokens_per_s=round(batch * seq / step_s, 1), trainer_args=ran_with,
                   loss=_last_loss(trainer), step_peaks=peaks["steps"])
        if profiled is not None:  # the profiler's own cost is in this cell's times and memory: kept out of the fits
            rec.update(profile=profiled, not_representative="one step ran under torch.profiler (CALIB_PROFILE=1)")
        if traced is not None:  # host-side stacks: its step time is not the model's; kept out of every fit
            rec.update(memtrace=traced, not_representative="one step recorded the allocator's history (CALIB_MEMTRACE)")
        if stopped is not None:  # the peak is the first step's or a steady step's: both ran
            rec["stopped_early"] = stopped
        if os.environ.get("HF_DEACTIVATE_ASYNC_LOAD") == "1":  # a loader setting the estimate does not model
            rec["not_representative"] = "loaded without transformers' threaded loading (HF_DEACTIVATE_ASYNC_LOAD=1)"
        if varied is not None:  # scored against the fixed-length prediction, fitted on nothing
            rec.update(varied_rows=varied, not_representative=f"{varied['steps']} steps of rows of varied length (CALIB_VARY)")
        rec["nvml_peak_used_bytes"] = None if device_sampler.peak is None or pm.baseline is None else device_sampler.peak - pm.baseline
        rec["nvml_process_peak_bytes"] = sampler.peak
        rec["gpu_shared_with"] = sampler.others  # other compute processes on the GPU during the steps (most at once)
        try:
            rec["local_memory"] = local_memory()
        except Exception as exc:  # noqa: BLE001 - a reading, never a reason to lose the cell
            rec["local_memory"] = {"error": f"{type(exc).__name__}: {exc}"[:200]}
    except torch.OutOfMemoryError as exc:
        rec.update(status="oom", error=str(exc)[:300])
    except Exception as exc:  # noqa: BLE001 - a calibration run records every failure
        oom = "out of memory" in str(exc).lower()
        tb = traceback.format_exc()  # head and tail: round 5's gemma-2-9b record lost where the failure began
        rec.update(status="oom" if oom else "error", error=f"{type(exc).__name__}: {exc}"[:600],
                   traceback=tb if len(tb) <= 4000 else tb[:1500] + "\n[...]\n" + tb[-2500:])
    # The statistics are reset at each step (StepTimer): the cell's peak is the largest of the load's, the steps'
    # and what followed the last step.
    seen = [peaks["before"] or [0, 0], *peaks["steps"]] if rec.get("status") == "ok" else []
    rec.update(peak_allocated_bytes=max([cuda_stat("max_memory_allocated"), *(p[0] for p in seen)]),
               peak_reserved_bytes=max([cuda_stat("max_memory_reserved"), *(p[1] for p in seen)]),
               wall_s=round(time.time() - t0, 1))
    del trainer
    return rec


def local_memory() -> dict:
    """What the driver reserves for kernels' per-thread stacks (register spills, local arrays): it grows the stack
    to the largest any kernel launched so far needed and keeps it, for every thread the GPU can hold at once, so
    stack x SMs x threads per SM sits beside the allocator (round 8: Qwen3.5's 6.3-6.6 GiB there, fla's
    gated-delta-rule kernels; finetune_advisor/vram/local_memory.py counts it per GPU). Also the loaded Triton kernels
    with the most local memory per thread (Triton reports it as n_spills = local bytes / 4; round 8 found
    Mamba-2's this way, not fla's)."""
    import ctypes
    import gc

    import torch

    props = torch.cuda.get_device_properties(torch.cuda.current_device())
    stack = ctypes.c_size_t()
    try:
        rc = ctypes.CDLL("libcuda.so.1").cuCtxGetLimit(ctypes.byref(stack), 0)  # CU_LIMIT_STACK_SIZE
    except OSError:
        rc = -1
    spilling: list[tuple[int, str]] = []
    try:
        from triton.compiler.compiler import CompiledKernel

        loaded = [k for k in gc.get_objects() if isinstance(k, CompiledKernel) and getattr(k, "n_spills", None)]
        spilling = sorted(((4 * k.n_spills, str(getattr(k, "name", "?"))) for k in loaded), reverse=True)
    except Exception:  # noqa: BLE001 - a reading, never a reason to lose the cell
        pass
    return {"stack_bytes_per_thread": stack.value if rc == 0 else None, "sm_count": props.multi_processor_count,
            "threads_per_sm": props.max_threads_per_multi_processor, "spilling_kernels": len(spilling),
            "most_local_bytes_per_thread": [[b, name[:80]] for b, name in spilling[:8]]}


def _last_loss(trainer) -> float | None:
    for entry in reversed(trainer.state.log_history):
        if "loss" in entry:
            return float(entry["loss"])
    return None


class ProcessPeakSampler:
    """Polls NVML's per-process used memory (valid while other processes share the GPU), and counts the other
    compute processes seen on the GPU meanwhile: `others` is the most at once (None where NVML cannot list them).
    A lane that only waited for its turn has no process, so a two-lane cell that ran alone reads 0."""

    def __init__(self, pm, interval_s: float = 0.005) -> None:
        import threading

        self.pm, self.interval_s, self.peak, self.others = pm, interval_s, None, None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._read()
            time.sleep(self.interval_s)

    def _read(self) -> None:
        procs = self.pm.nvml.processes()
        if procs is None:
            return
        u = procs.get(os.getpid())
        if u is not None and (self.peak is None or u > self.peak):
            self.peak = u
        self.others = max(self.others or 0, len(procs.keys() - {os.getpid()}))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._read()


def versions(pm, packages_only: bool = False) -> dict:
    import importlib.metadata as md

    import torch

    def v(name: str) -> str | None:
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return None

    packages = {k: v(k) for k in ("transformers", "peft", "bitsandbytes", "accelerate", "unsloth", "unsloth_zoo", "trl",
                                  "triton", "datasets")}
    packages["alloc_conf"] = os.environ.get("PYTORCH_CUDA_ALLOC_CONF") or os.environ.get("PYTORCH_ALLOC_CONF")
    if packages_only:
        return packages
    p = torch.cuda.get_device_properties(torch.cuda.current_device())
    return {"gpu": p.name, "gpu_total_bytes": int(p.total_memory), "driver": pm.nvml.driver(), "cuda": torch.version.cuda,
            "torch": torch.__version__}


def write(out: str, rec: dict) -> None:
    with open(out, "a") as fh:
        fh.write(json.dumps(rec) + "\n")
    gib = lambda b: (b or 0) / 2**30  # noqa: E731
    print(f"[{rec['status']}] {rec['cell']} nvml={gib(rec.get('nvml_process_peak_bytes')):.2f}GiB "
          f"dev={gib(rec.get('nvml_peak_used_bytes')):.2f}GiB reserved={gib(rec.get('peak_reserved_bytes')):.2f}GiB "
          f"step={rec.get('step_s')}s {(rec.get('error') or '')[:200]}", flush=True)


def parse_shapes(text: str) -> list[tuple[int, int]]:
    return [tuple(int(x) for x in s.split("x")) for s in text.split(",")]  # type: ignore[misc]


def _arg(flag: str, default: str | None = None) -> str | None:
    return sys.argv[sys.argv.index(flag) + 1] if flag in sys.argv else default


if __name__ == "__main__":
    if sys.argv[1] == "prepare":
        prepare(sys.argv[2], sys.argv[3], "--prequantize" in sys.argv, "--build-4bit" in sys.argv,
                "--fp8-per-tensor" in sys.argv)
    else:
        dl = _arg("--deadline-s")
        env = [sys.argv[i + 1] for i, a in enumerate(sys.argv) if a == "--env"]
        run(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], parse_shapes(_arg("--shapes", "1x2048")),
            int(_arg("--rank", "16")), _arg("--emulate"), _arg("--quant", "on-load"), time.time() + float(dl) if dl else None,
            env, _arg("--tag"))
