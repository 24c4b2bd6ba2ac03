"""Qwen2.5-VL-7B (or Gemma 3 4B) fine-tuned on image rows the way Unsloth's vision notebook does it, for its peak memory.

    python bench/vram_accuracy/vision_notebook_probe.py > vl.json                    # the notebook's settings
    python bench/vram_accuracy/vision_notebook_probe.py --model gemma-3 [--images 2] # Gemma 3 4B, 1 or 2 images a row
    python bench/vram_accuracy/vision_notebook_probe.py --model qwen3-vl             # Qwen3-VL 8B
    python bench/vram_accuracy/vision_notebook_probe.py --resize max > vl-max.json   # images at their own size
    python bench/vram_accuracy/vision_notebook_probe.py --check                      # CPU: rows, tokens, one loss
    python bench/vram_accuracy/vision_notebook_probe.py --predict                    # the estimator's figures for it
    PYTHONPATH=DIR python bench/vram_accuracy/vision_notebook_probe.py --check --collator   # ... and Unsloth's collator

Every calibration cell so far trained vision-language models on text rows: the vision tower held its weights and
nothing else. This probe feeds images. It follows github unslothai/notebooks nb/Qwen2.5_VL_(7B)-Vision.ipynb:
`FastVisionModel.from_pretrained(load_in_4bit=True, use_gradient_checkpointing="unsloth")`,
`FastVisionModel.get_peft_model(finetune_vision_layers, finetune_language_layers, finetune_attention_modules and
finetune_mlp_modules all True, r=16, lora_alpha=16, lora_dropout=0)`, `FastVisionModel.for_training`, trl's
SFTTrainer with `UnslothVisionDataCollator(model, tokenizer)`, batch 2, gradient accumulation 4, adamw_8bit, bf16
where the GPU has it, `remove_unused_columns=False`, `dataset_text_field=""`, `dataset_kwargs={"skip_prepare_dataset":
True}`, max_length 2048. Rows are the notebook's shape: an instruction and one image from the user, a short answer.

The collator resizes images by itself (`resize="min"`, its default): to the vision config's image_size, or 512 pixels
on the first side when the config has none, as Qwen2.5-VL's has not (unsloth_zoo 2026.10.9 vision_utils.py). A
1,024-pixel square therefore reaches the model as 512 x 512 and smart_resize makes it 504 x 504: 36 x 36 patches of
14 pixels in the tower, 324 image tokens in the language model (`--check --collator`, with the unsloth and unsloth_zoo 2026.10.9
wheels unpacked in DIR and `datasets` and `requests` installed, runs the collator itself on the CPU: 402 tokens a row, 324 of them image tokens; 1,303 and 1,225
with `resize="max"`). `--resize max` hands the source size to the processor, whose pixel cap
(28 x 28 x 1,280) makes a 1,024-pixel square 980 x 980: 4,900 patches, 1,225 tokens (the CPU check counts both). `--method lora` loads 16-bit instead.

`--model qwen3-vl` trains Qwen3-VL 8B (configs/Qwen3-VL-8B-Instruct.json) on the same rows: 16-pixel patches, 2 x 2
merged a token, so the collator's 512 pixels make 1,024 patches and 256 image tokens (334 a row; `--check --collator`).
The processor's pixel bounds are the image processor class's defaults: the checkpoint's preprocessor_config.json is not
in this repository, so `--resize max` (992 pixels here, 961 image tokens) may not be what its real processor makes.

`--model gemma-3` trains Gemma 3 4B (configs/gemma-3-4b-it.json) with the same trainer settings and LoRA; it needs
`UNSLOTH_BLOCK_COMPILE=0` in the environment, as every Gemma 3 calibration cell ran. Its image processor makes every
image 896 x 896 whatever the collator hands it: 4,096 patches of 14 pixels in the SigLIP tower, pooled to 256 image
tokens between `<start_of_image>` and `<end_of_image>` (16 patches a token, where Qwen2.5-VL has 4), so `--images 2`
rather than `--resize` changes its image share. Its stand-in tokenizer carries the config's image, begin- and
end-of-image ids and its template the `<start_of_turn>` / `<end_of_turn>` turns, as Gemma 3's does.

`--model llama-3.2-vision` trains Llama 3.2 11B Vision (configs/Llama-3.2-11B-Vision-Instruct.json): one `<|image|>`
token an image in the sequence, the image read through the cross-attention layers as 560-pixel tiles of 1,601
positions (40 x 40 patches of 14 pixels and a class token). The collator's default resize makes a 1,024-pixel
square 560 pixels: one tile (82 tokens a row); `--resize max` hands it over whole: a 2 x 2 canvas, four tiles
(`--check --collator` counts both). Its stand-in tokenizer carries Llama 3's header and end-of-turn ids, and the
`<|image|>` id beyond the vocabulary, as the checkpoint's does.

No download: a child process builds the model on the GPU (in this process its 16.6 GB would sit inside the
measured peak; on the CPU it outlasted 330 s in round 13) and exits before the measured one loads it, from configs/Qwen2.5-VL-7B-Instruct.json with random weights and saved
with a processor: Qwen2VLImageProcessor and Qwen2VLVideoProcessor at their defaults, a word-level stand-in tokenizer
of the config's vocabulary with the config's image, video and vision start/end ids as special tokens, and a minimal
chat template of our own (role, text, `<|vision_start|><|image_pad|><|vision_end|>` per image, `<|im_end|>`); the
images are random pixels. Carry the Unsloth wheels (bench/vram_calibration/fetch_wheels.sh). Prints one JSON line:
the rows' token counts, the allocator's peaks, NVML's peak for the process, and the step times.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import dataclass

from probe import GIB, measure_process, step_timer

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIGS = os.path.join(os.path.dirname(HERE), "vram_calibration", "configs")
INSTRUCTION_WORDS = 8  # "Write the LaTeX representation for this image." in the notebook


@dataclass(frozen=True)
class VisionModel:
    """What the probe needs to know of one vision-language model."""

    config: str  # file in bench/vram_calibration/configs
    model_class: str  # transformers class of the whole model
    template: str  # a minimal chat template of our own, in the model's turn format
    specials: dict[str, str]  # config key of a special id -> its token
    tokens: dict[str, str]  # the tokenizer's named special tokens (bos, eos, pad; image tokens for Gemma 3)
    folder: str  # where the random model is saved on the GPU machine


QWEN = VisionModel(
    config="Qwen2.5-VL-7B-Instruct.json", model_class="Qwen2_5_VLForConditionalGeneration",
    template=(
        "{% for m in messages %}{{ m['role'] }} {% if m['content'] is string %}{{ m['content'] }}{% else %}"
        "{% for c in m['content'] %}{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
        "{% elif c['type'] == 'text' %}{{ c['text'] }} {% endif %}{% endfor %}{% endif %}<|im_end|>{% endfor %}"
        "{% if add_generation_prompt %}assistant {% endif %}"),
    specials={"bos_token_id": "<|endoftext|>", "eos_token_id": "<|im_end|>", "vision_start_token_id": "<|vision_start|>",
              "vision_end_token_id": "<|vision_end|>", "vision_token_id": "<|vision_pad|>",
              "image_token_id": "<|image_pad|>", "video_token_id": "<|video_pad|>"},
    tokens={"bos_token": "<|endoftext|>", "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
    folder="/dev/shm/qwen25vl-random")
GEMMA3 = VisionModel(
    config="gemma-3-4b-it.json", model_class="Gemma3ForConditionalGeneration",
    template=(
        "<bos>{% for m in messages %}<start_of_turn>{{ m['role'] }} {% if m['content'] is string %}{{ m['content'] }}"
        "{% else %}{% for c in m['content'] %}{% if c['type'] == 'image' %}<start_of_image>"
        "{% elif c['type'] == 'text' %}{{ c['text'] }} {% endif %}{% endfor %}{% endif %}<end_of_turn>{% endfor %}"
        "{% if add_generation_prompt %}<start_of_turn>model {% endif %}"),
    specials={"pad_token_id": "<pad>", "bos_token_id": "<bos>", "boi_token_index": "<start_of_image>",
              "eoi_token_index": "<end_of_image>", "image_token_index": "<image_soft_token>",
              "start_of_turn": "<start_of_turn>", "end_of_turn": "<end_of_turn>"},
    tokens={"bos_token": "<bos>", "eos_token": "<end_of_turn>", "pad_token": "<pad>"},
    folder="/dev/shm/gemma3-random")
LLAMA_VISION = VisionModel(
    config="Llama-3.2-11B-Vision-Instruct.json", model_class="MllamaForConditionalGeneration",
    template=(
        "<|begin_of_text|>{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|> "
        "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
        "{% if c['type'] == 'image' %}<|image|>{% elif c['type'] == 'text' %}{{ c['text'] }} {% endif %}{% endfor %}"
        "{% endif %}<|eot_id|>{% endfor %}{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|> "
        "{% endif %}"),
    specials={"bos_token_id": "<|begin_of_text|>", "pad_token_id": "<|finetune_right_pad_id|>",
              "image_token_index": "<|image|>", "start_header": "<|start_header_id|>", "end_header": "<|end_header_id|>",
              "eot": "<|eot_id|>"},
    tokens={"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "pad_token": "<|finetune_right_pad_id|>"},
    folder="/dev/shm/llama32-vision-random")
QWEN3 = VisionModel(
    config="Qwen3-VL-8B-Instruct.json", model_class="Qwen3VLForConditionalGeneration", template=QWEN.template,
    specials={"bos_token_id": "<|endoftext|>", "eos_token_id": "<|im_end|>", "vision_start_token_id": "<|vision_start|>",
              "vision_end_token_id": "<|vision_end|>", "image_token_id": "<|image_pad|>",
              "video_token_id": "<|video_pad|>"},
    tokens=QWEN.tokens, folder="/dev/shm/qwen3vl-random")
MODELS = {"qwen2.5-vl": QWEN, "qwen3-vl": QWEN3, "gemma-3": GEMMA3, "llama-3.2-vision": LLAMA_VISION}
QWENS = (QWEN, QWEN3)  # one processor family: image_grid_thw, <|image_pad|> tokens, 2 x 2 patches merged a token
# Llama 3's header and end-of-turn ids (128006, 128007, 128009: the last of the config's eos_token_id), which the
# config does not name; the text config's bos and pad ids are read at the top level, where the processor looks.
LLAMA_IDS = {"start_header": 128006, "end_header": 128007, "eot": 128009}
# The stand-in's ids for Gemma 3's turn and padding tokens, which its config does not name: <end_of_turn> is 106 (the
# second of the config's eos_token_id), <start_of_turn> the id before it, <pad> 0 and <bos> 2 as in Gemma's vocabulary.
# Which ids they are changes no memory; they only have to be distinct.
GEMMA3_IDS = {"pad_token_id": 0, "bos_token_id": 2, "start_of_turn": 105, "end_of_turn": 106}


def config_fields(vm: VisionModel, small: bool = False) -> dict:
    """The checkpoint's config.json; `small` shrinks depth and widths for the CPU check (same structure; Qwen's head
    size stays 128, which its rope sections need, and Gemma's image size stays 896, which sets its 256 tokens)."""
    fields = {k: v for k, v in json.load(open(os.path.join(CONFIGS, vm.config)))["config"].items()
              if k not in ("transformers_version", "_name_or_path")}
    if vm is GEMMA3:
        fields.update(GEMMA3_IDS)
    if vm is LLAMA_VISION:
        fields.update(LLAMA_IDS, bos_token_id=fields["text_config"]["bos_token_id"],
                      pad_token_id=fields["text_config"]["pad_token_id"])
    if vm is QWEN3:  # its text config holds them; the processor looks at the top level
        text = fields["text_config"]
        fields.update(bos_token_id=text["bos_token_id"], eos_token_id=text["eos_token_id"])
    return shrunk(vm, fields) if small else fields


def shrunk(vm: VisionModel, fields: dict) -> dict:
    """FIELDS with the depth and widths of a model small enough for a CPU forward, its structure kept."""
    if vm in QWENS:  # head size 128 kept for the rope sections
        text = {"hidden_size": 512, "intermediate_size": 1024, "num_hidden_layers": 2, "num_attention_heads": 4,
                "num_key_value_heads": 2}
        vision = {"depth": 2, "hidden_size": 64, "intermediate_size": 128, "num_heads": 4, "out_hidden_size": 512}
        if vm is QWEN:  # Qwen2.5-VL reads its text widths at the top level too
            text.update(layer_types=["full_attention"] * 2, max_window_layers=2)
            fields.update(text)
            vision["fullatt_block_indexes"] = [1]
        else:  # Qwen3-VL feeds these tower blocks' outputs to the first text layers
            vision["deepstack_visual_indexes"] = [0, 1]
        fields["text_config"] = {**fields["text_config"], **text}
        fields["vision_config"] = {**fields["vision_config"], **vision}
    elif vm is LLAMA_VISION:
        fields["text_config"] = {**fields["text_config"], "hidden_size": 256, "intermediate_size": 512,
                                 "num_hidden_layers": 4, "num_attention_heads": 2, "num_key_value_heads": 1,
                                 "cross_attention_layers": [1, 3]}
        fields["vision_config"] = {**fields["vision_config"], "hidden_size": 64, "intermediate_size": 128,
                                   "num_hidden_layers": 4, "num_global_layers": 2, "attention_heads": 4,
                                   "intermediate_layers_indices": [1, 3], "vision_output_dim": 192}
    else:
        fields["text_config"] = {**fields["text_config"], "hidden_size": 256, "intermediate_size": 512,
                                 "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1,
                                 "head_dim": 128}
        fields["vision_config"] = {**fields["vision_config"], "hidden_size": 64, "intermediate_size": 128,
                                   "num_hidden_layers": 2, "num_attention_heads": 4}
    return fields


def hf_config(fields: dict):
    from transformers import AutoConfig

    f = dict(fields)
    cfg = AutoConfig.for_model(f.pop("model_type"), **f)
    cfg.use_cache = False
    return cfg


def special_ids(vm: VisionModel, fields: dict) -> dict[int, str]:
    return {fields[key]: name for key, name in vm.specials.items() if isinstance(fields.get(key), int)}


def stand_in_processor(vm: VisionModel, fields: dict):
    """The model's processor with a word-level tokenizer of the config's vocabulary: t{i} for ordinary ids, the
    special ids under their names."""
    from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = special_ids(vm, fields)
    vocab_size = hf_config(fields).get_text_config().vocab_size
    vocab = {specials.get(i, f"t{i}"): i for i in range(max(vocab_size, max(specials) + 1))}
    unk = "t1" if 0 in specials else "t0"  # an ordinary id (Gemma's 0 is <pad>)
    tok = Tokenizer(models.WordLevel(vocab, unk_token=unk))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.add_special_tokens([AddedToken(name, special=True) for name in specials.values()])
    if vm is QWEN:
        from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

        fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token=unk, model_max_length=32768, **vm.tokens)
        return Qwen2_5_VLProcessor(image_processor=Qwen2VLImageProcessor(), tokenizer=fast,
                                   video_processor=Qwen2VLVideoProcessor(), chat_template=vm.template)
    if vm is QWEN3:  # the config's 16-pixel patches, 2 x 2 merged a token; pixel bounds left at the class's defaults
        from transformers import Qwen2VLImageProcessor, Qwen3VLProcessor, Qwen3VLVideoProcessor

        v = fields["vision_config"]
        fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token=unk, model_max_length=32768, **vm.tokens)
        image = Qwen2VLImageProcessor(patch_size=v["patch_size"], merge_size=v["spatial_merge_size"],
                                      temporal_patch_size=v["temporal_patch_size"])
        return Qwen3VLProcessor(image_processor=image, tokenizer=fast, video_processor=Qwen3VLVideoProcessor(),
                                chat_template=vm.template)
    if vm is LLAMA_VISION:
        from transformers import MllamaImageProcessor, MllamaProcessor

        fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token=unk, model_max_length=131072, **vm.tokens)
        side = fields["vision_config"]["image_size"]  # its default is 224, the real checkpoint's 560
        return MllamaProcessor(image_processor=MllamaImageProcessor(size={"height": side, "width": side},
                                                                    max_image_tiles=fields["vision_config"]["max_num_tiles"]),
                               tokenizer=fast, chat_template=vm.template)
    from transformers import Gemma3ImageProcessor, Gemma3Processor

    image = {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>"}
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token=unk, model_max_length=32768,
                                   extra_special_tokens=image, **vm.tokens)
    side = fields["vision_config"]["image_size"]
    return Gemma3Processor(image_processor=Gemma3ImageProcessor(size={"height": side, "width": side}), tokenizer=fast,
                           chat_template=vm.template, image_seq_length=fields["mm_tokens_per_image"])


def rows(n: int, side: int, answer_words: int, images: int = 1) -> list[dict]:
    """N rows in the notebook's message format: an instruction and IMAGES SIDE x SIDE images of random pixels from
    the user, an answer of ANSWER_WORDS ordinary tokens from the assistant."""
    import numpy as np
    from PIL import Image

    out = []
    for i in range(n):
        rng = np.random.default_rng(i)
        pictures = [{"type": "image", "image": Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8))}
                    for _ in range(images)]
        words = lambda k: " ".join(f"t{w}" for w in rng.integers(1000, 100_000, k))  # noqa: E731
        out.append({"messages": [
            {"role": "user", "content": [{"type": "text", "text": words(INSTRUCTION_WORDS)}, *pictures]},
            {"role": "assistant", "content": [{"type": "text", "text": words(answer_words)}]},
        ]})
    return out


def save_random_model(vm: VisionModel, folder: str, fields: dict, dtype, device: str) -> int:
    import torch
    import transformers

    with torch.device(device):
        model = getattr(transformers, vm.model_class)._from_config(hf_config(fields), dtype=dtype)
    model.config.dtype = dtype
    model.save_pretrained(folder, max_shard_size="5GB")
    stand_in_processor(vm, fields).save_pretrained(folder)
    n = sum(p.numel() for p in model.parameters())
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    return n


def encode(processor, batch_rows: list[dict]):
    """These rows as the collator's own processor call encodes them."""
    texts = [processor.apply_chat_template(r["messages"], tokenize=False) for r in batch_rows]
    images = [[c["image"] for m in r["messages"] for c in m["content"] if c["type"] == "image"] for r in batch_rows]
    return processor(text=texts, images=images, return_tensors="pt", padding=True)


def token_counts(batch, vm: VisionModel, fields: dict) -> dict:
    """Per row of a collated batch: tokens in the language model, image tokens among them, patches in the tower."""
    n = len(batch["input_ids"])
    if vm in QWENS:
        image_id, patches = fields["image_token_id"], int(batch["image_grid_thw"].prod(dim=-1).sum())
    elif vm is LLAMA_VISION:  # tiles of (560 / 14)^2 patches and a class token each
        v = fields["vision_config"]
        image_id = fields["image_token_index"]
        patches = int((batch["aspect_ratio_mask"] > 0).sum()) * ((v["image_size"] // v["patch_size"]) ** 2 + 1)
    else:
        v = fields["vision_config"]
        image_id, patches = fields["image_token_index"], len(batch["pixel_values"]) * (v["image_size"] // v["patch_size"]) ** 2
    return {"tokens_per_row": int(batch["attention_mask"].sum()) // n,
            "image_tokens_per_row": int((batch["input_ids"] == image_id).sum()) // n, "patches_per_row": patches // n}


def check(args: argparse.Namespace) -> None:
    """On the CPU, without Unsloth: the processor builds and reloads, the rows give the stated token counts at
    both sizes the collator can hand over, and one forward of a shrunken model of the same structure gives a loss."""
    import tempfile

    import torch
    import transformers
    from transformers import AutoProcessor

    vm = MODELS[args.model]
    fields = config_fields(vm, small=True)
    with tempfile.TemporaryDirectory() as folder:
        save_random_model(vm, folder, fields, torch.float32, "cpu")
        processor = AutoProcessor.from_pretrained(folder)
        model = getattr(transformers, vm.model_class).from_pretrained(folder)
    report = {"processor": type(processor).__name__}
    for side in (504, args.image_size):
        enc = encode(processor, rows(2, side, args.answer_words, args.images))
        report[f"{side}px"] = token_counts(enc, vm, fields)
    if args.collator:  # Unsloth's own collator, which resizes first: its counts must match the ones above
        os.environ.setdefault("UNSLOTH_IS_PRESENT", "1")  # unsloth_zoo imports on a CPU with it, without Unsloth
        from unsloth_zoo.vision_utils import UnslothVisionDataCollator

        for resize in ("min", "max"):
            collated = UnslothVisionDataCollator(model, processor, resize=resize)(
                rows(2, args.image_size, args.answer_words, args.images))
            report[f"collator resize={resize}"] = token_counts(collated, vm, fields)
    labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
    labels[labels >= hf_config(fields).get_text_config().vocab_size] = -100  # Llama Vision's <|image|> lies beyond it
    with torch.no_grad():
        report["loss"] = round(float(model(**enc, labels=labels).loss), 3)
    print(json.dumps(report))


# Tokens a row in the language model and patches a row in the tower, as `--check --collator` counts them for each
# model, resize and number of images a row (the collator's resize changes nothing for Gemma 3: 896 pixels always).
# Llama 3.2 Vision's are the image's own tiles; its processor pads each image to 4 tiles, which its tower reads all of
# (round 16: the same peak for one tile and four).
COUNTS = {("qwen2.5-vl", "min", 1): (402, 1296), ("qwen2.5-vl", "max", 1): (1303, 4900), ("qwen3-vl", "min", 1): (334, 1024),
          ("gemma-3", "min", 1): (345, 4096), ("gemma-3", "min", 2): (602, 8192),
          ("llama-3.2-vision", "min", 1): (82, 1601), ("llama-3.2-vision", "max", 1): (82, 6404)}


def predict(args: argparse.Namespace) -> None:
    """The estimator's figures for this probe, before it runs (the project's environment; no torch): for each of the
    model's runs, what estimate_vram says with the rows' tokens as seq_len (the answer a user gets), and that plus the
    vision tower counted as the estimator counts decoder layers under Unsloth's checkpointing: every block's input
    kept, one block's recompute on top (its blocks read as a Qwen2-style layer of the tower's widths, with full-width
    keys), the allocator's share of both, and LoRA on the tower's linears with their gradients and optimizer states
    (round 14 measured Qwen2.5-VL 9 % and 20 % under that variant, so it is not the product's answer)."""
    from finetune_advisor.gpus.target import named
    from finetune_advisor.vocabulary import ALL_LINEAR
    from finetune_advisor.vram import constants as k
    from finetune_advisor.vram.activations import coefficients, token_bytes
    from finetune_advisor.vram.architecture import Architecture
    from finetune_advisor.vram.estimator import RunConfig, estimate
    from finetune_advisor.vram.shapes import shapes
    from finetune_advisor.vram.terms import precision, training_state

    vm = MODELS[args.model]
    spec = json.load(open(os.path.join(CONFIGS, vm.config)))
    fields, v = spec["config"], spec["config"]["vision_config"]
    arch = Architecture.from_hf_config(fields)
    heads = v.get("num_heads") or v.get("num_attention_heads") or v["attention_heads"]
    tower = shapes(Architecture.from_hf_config({
        "model_type": "qwen2", "hidden_size": v["hidden_size"], "intermediate_size": v["intermediate_size"],
        "num_hidden_layers": (v.get("depth") or v["num_hidden_layers"]) + v.get("num_global_layers", 0),
        "num_attention_heads": heads,
        "num_key_value_heads": heads, "vocab_size": 1}))
    for (model, resize, images), (tokens, patches) in COUNTS.items():
        if model != args.model:
            continue
        run = RunConfig(method=args.method, seq_len=tokens, batch_size=args.batch, lora_rank=16, stack="unsloth",
                        images_per_row=images, **named("H200").silicon)
        answer = estimate(arch, run, params_total=spec["params_counted_b"] * 1e9, takes_images=True).total_gib
        tb = token_bytes(tower, coefficients("unsloth", args.method, False), tower.lora_linears(ALL_LINEAR), 16)
        per_patch = k.UNSLOTH_LAYER_SCALE["dense"] * tb.layer + tb.checkpoint * tower.layers
        state = training_state(tower, run, precision(arch, run, None), 0.0)
        adapters = state.adapters + state.grads + state.states + state.temp
        extra = (per_patch * patches * args.batch * (1 + k.UNSLOTH_RESERVED_SHARE) + adapters) / GIB
        flags = (f" --model {model}" if model != "qwen2.5-vl" else "") + (" --resize max" if resize == "max" else "") \
            + (f" --images {images}" if images > 1 else "") + (f" --batch {args.batch}" if args.batch != 2 else "")
        print(json.dumps({"run": "vision_notebook_probe.py" + flags, "seq_len": tokens, "patches_per_row": patches,
                          "estimate_vram_gib": round(answer, 3), "with_tower_gib": round(answer + extra, 3),
                          "tower_lora_m": round(state.trainable / 1e6, 2)}))


def train(args: argparse.Namespace) -> dict:
    import torch
    from trl import SFTConfig, SFTTrainer
    from unsloth import FastVisionModel, is_bf16_supported
    from unsloth.trainer import UnslothVisionDataCollator

    vm = MODELS[args.model]
    fields = config_fields(vm)
    bf16 = is_bf16_supported()
    built = json.load(open(os.path.join(args.folder, "built.json")))["params"]
    model, tokenizer = FastVisionModel.from_pretrained(args.folder, load_in_4bit=args.method == "qlora",
                                                       use_gradient_checkpointing="unsloth")
    model = FastVisionModel.get_peft_model(model, finetune_vision_layers=True, finetune_language_layers=True,
                                           finetune_attention_modules=True, finetune_mlp_modules=True, r=16,
                                           lora_alpha=16, lora_dropout=0, bias="none", random_state=3407,
                                           use_rslora=False, loftq_config=None)
    FastVisionModel.for_training(model)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    data = rows(4 * args.batch * args.steps, args.image_size, args.answer_words, args.images)
    collator = UnslothVisionDataCollator(model, tokenizer, resize=args.resize)
    counts = token_counts(collator(data[:args.batch]), vm, fields)
    times: list[float] = []
    trainer = SFTTrainer(model=model, processing_class=tokenizer, data_collator=collator, train_dataset=data, callbacks=[step_timer(times)],
                         args=SFTConfig(per_device_train_batch_size=args.batch, gradient_accumulation_steps=4, warmup_steps=5,
                                        max_steps=args.steps, learning_rate=2e-4, fp16=not bf16, bf16=bf16,
                                        logging_steps=1, optim="adamw_8bit", weight_decay=0.01,
                                        lr_scheduler_type="linear", seed=3407, output_dir="/tmp/vl_probe",
                                        report_to="none", save_strategy="no", remove_unused_columns=False,
                                        dataset_text_field="", dataset_kwargs={"skip_prepare_dataset": True},
                                        max_length=2048))
    start = torch.cuda.max_memory_reserved() / GIB
    trainer.train()
    return {"model": args.model, "method": args.method, "built_params": built, "trainable": trainable, "image_side": args.image_size,
            "resize": args.resize, **counts, "rows": f"{args.batch} x ({INSTRUCTION_WORDS} + {args.answer_words} words, {args.images} image(s))",
            "bf16": bf16, "start_reserved_gib": round(start, 3),
            "peak_reserved_gib": round(torch.cuda.max_memory_reserved() / GIB, 3),
            "peak_allocated_gib": round(torch.cuda.max_memory_allocated() / GIB, 3),
            "step_times_s": [round(t, 3) for t in times]}


def build(vm: VisionModel, folder: str) -> None:
    """The random checkpoint, built on the GPU in the dtype the notebook loads (bf16 where the GPU has it); kept
    for the next run in FOLDER."""
    import torch

    if os.path.exists(os.path.join(folder, "built.json")):
        return

    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    n = save_random_model(vm, folder, config_fields(vm), dtype, "cuda")
    json.dump({"params": n}, open(os.path.join(folder, "built.json"), "w"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=tuple(MODELS), default="qwen2.5-vl", help="the vision-language model")
    ap.add_argument("--method", choices=("qlora", "lora"), default="qlora", help="the notebook loads 4-bit")
    ap.add_argument("--resize", choices=("min", "max"), default="min", help="the collator's resize (default: its own)")
    ap.add_argument("--images", type=int, choices=(1, 2), default=1, help="images in each row")
    ap.add_argument("--image-size", type=int, default=1024, help="side of the square source images, in pixels")
    ap.add_argument("--answer-words", type=int, default=64, help="ordinary tokens in each answer")
    ap.add_argument("--batch", type=int, default=2, help="rows a micro-batch (the notebooks' 2)")
    ap.add_argument("--steps", type=int, default=4, help="optimizer steps (4 micro-batches each)")
    ap.add_argument("--folder", help="where the random model is saved (default: one per model in /dev/shm)")
    ap.add_argument("--check", action="store_true", help="CPU only: processor, token counts, one forward")
    ap.add_argument("--collator", action="store_true",
                    help="with --check: also collate through unsloth_zoo's UnslothVisionDataCollator (on PYTHONPATH)")
    ap.add_argument("--predict", action="store_true", help="no GPU, no torch: the estimator's figures for this probe")
    ap.add_argument("--build-only", action="store_true", help="build and save the random model, then exit (a child)")
    args = ap.parse_args()
    args.folder = args.folder or MODELS[args.model].folder
    if args.build_only:
        return build(MODELS[args.model], args.folder)
    if args.predict:
        return predict(args)
    if args.check:
        return check(args)
    subprocess.run([sys.executable, os.path.abspath(__file__), "--build-only", "--model", args.model,
                    "--folder", args.folder], check=True)
    import unsloth  # noqa: F401 - before transformers, as Unsloth requires

    print(json.dumps(measure_process(lambda: train(args))))


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
