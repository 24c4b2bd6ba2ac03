"""What a micro-batch's images add to its time (pure): the vision tower's pass, as measured on the GPU machine.

The step-time model times the language model's tokens. Unsloth's vision notebook probes (bench/vram_accuracy/
data/vision_probe.jsonl: one H200, Unsloth 2026.10.9, 2 rows a micro-batch, 4 micro-batches a step) took longer than
that model says for their tokens alone; the difference, a micro-batch's median beyond the model's time for its tokens,
divided by its images:
- Qwen2.5-VL-7B QLoRA, one image a row: 0.15 s an image at the collator's default resize (1,296 patches), 0.33 s at
  its largest (4,900 patches; round 14);
- Llama 3.2 11B Vision QLoRA, one image a row: 0.25 and 0.26 s, at one tile and four alike (every image is padded to
  four tiles; round 16).
Gemma 3's probes ran with Unsloth's per-block compile off, which slows its text layers 2-4x as well, so they do not
separate the tower's time; Gemma 3 carries Qwen2.5-VL's figure. The times are the tower's kernel launches more than
its FLOPs (by its shapes, Qwen2.5-VL's tower needs about 6 ms of matmuls an image on the H200, of the 150), so, like
the step's other fixed costs, they are not scaled to other GPUs.
"""

from __future__ import annotations

from finetune_advisor.vram.families import extras_kind, family_of

IMAGE_SECONDS = {"qwen2_5_vl": 0.15, "mllama": 0.26}  # a micro-batch's seconds for each image in it, on the H200
IMAGE_TIMED = {
    "qwen2_5_vl": "Qwen2.5-VL-7B QLoRA, 0.15 s an image at 1,296 patches, 0.33 s at 4,900",
    "mllama": "Llama 3.2 11B Vision QLoRA, 0.25-0.26 s an image at one tile and at four",
}
# A tower not timed carries over the slowest timed tower of its kind (image tokens in the sequence, or cross-attention).
SLOWEST = {kind: max((f for f in IMAGE_SECONDS if extras_kind(f) == kind), key=IMAGE_SECONDS.get)
           for kind in ("vision", "cross_attention")}


def tower_seconds(model_type: str, images: int, gpu_name: str) -> tuple[float, list[str]]:
    """Seconds the vision tower adds to a micro-batch of `images` images, and the sentence that says where from."""
    if not images:
        return 0.0, []
    family = family_of(model_type)
    timed = family in IMAGE_SECONDS
    nearest = family if timed else SLOWEST[extras_kind(model_type)]
    seconds = images * IMAGE_SECONDS[nearest]
    how = "timed for this family" if timed else "not timed for this family: the slowest timed tower of its kind"
    return seconds, [
        f"The vision tower adds {seconds:.2f} s to each micro-batch of {images} image{'s' if images > 1 else ''} "
        f"({IMAGE_SECONDS[nearest]} s an image, {how}: {IMAGE_TIMED[nearest]}, with Unsloth's vision notebook "
        f"settings on the H200). Mostly kernel launches, so not scaled to the {gpu_name}; larger images than the "
        "collator's default resize take longer."]
