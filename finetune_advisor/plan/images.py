"""What a micro-batch's images add to its time (pure): the vision tower's pass, as measured on the GPU machine.

The step-time model times the language model's tokens. Unsloth's vision notebook probes (bench/vram_accuracy/
data/vision_probe.jsonl: one H200, Unsloth 2026.10.9, 2 rows a micro-batch, 4 micro-batches a step) took longer than
that model says for their tokens alone; the difference, a micro-batch's median beyond the model's time for its tokens,
divided by its images (two in each micro-batch):
- Qwen2.5-VL-7B QLoRA, one image a row: 0.15 s an image at the collator's default resize (1,296 patches), 0.33 s at
  its largest (4,900 patches; round 14);
- Llama 3.2 11B Vision QLoRA, one image a row: 0.25 and 0.26 s, at one tile and four alike (every image is padded to
  four tiles; round 16); at one, two and four rows a micro-batch (round 17) the step grew in proportion to the
  images, 0.27 s an image, so its time is per image, not a fixed cost of the micro-batch.
Gemma 3's probes ran with Unsloth's per-block compile off, which slows its text layers 2-4x as well, so they do not
separate the tower's time; Gemma 3 carries Qwen2.5-VL's figure. How that time splits between kernel launches (the
same for a micro-batch of any size, on any GPU) and work (growing with the images, and slower on a slower GPU) was
not measured: Qwen2.5-VL's 3.8x more patches took 2.2x the time, and by its shapes its tower needs only about 6 ms of
matmuls an image on the H200. The figure is taken as measured, per image and unscaled; the range covers all of it
launches (two images' time whatever the count, unless the family's time was measured growing with its images) and all
of it work (per image, scaled by the GPU's TFLOPS).
"""

from __future__ import annotations

from dataclasses import dataclass

from finetune_advisor.vram.families import family_of, figure_family

IMAGE_SECONDS = {"qwen2_5_vl": 0.15, "mllama": 0.26}  # a micro-batch's seconds for each image in it, on the H200
TIMED_IMAGES = 2  # images in each micro-batch the figures were measured with
IMAGE_TIMED = {
    "qwen2_5_vl": "Qwen2.5-VL-7B QLoRA, 0.15 s an image at 1,296 patches, 0.33 s at 4,900",
    "mllama": "Llama 3.2 11B Vision QLoRA, 0.25-0.27 s an image at one tile and four, at 1-4 images a micro-batch",
}  # a tower not timed carries over the slowest timed tower of its kind (families.figure_family)
PER_IMAGE = {"mllama": "its step grew in proportion to the images at 1, 2 and 4 a micro-batch"}  # not launches


@dataclass(frozen=True)
class TowerTime:
    seconds: float  # added to a micro-batch
    low: float
    high: float
    notes: list[str]


def tower_time(model_type: str, images: int, slower: float, gpu_name: str) -> TowerTime:
    """What the vision tower adds to a micro-batch of `images` images on a GPU `slower` times slower in its matmuls
    than the H200 it was timed on (1 or more), with the sentence that says where the figure comes from."""
    if not images:
        return TowerTime(0.0, 0.0, 0.0, [])
    nearest = figure_family(model_type, IMAGE_SECONDS)
    timed = nearest == family_of(model_type)
    per = IMAGE_SECONDS[nearest]
    launches, work, seconds = TIMED_IMAGES * per, images * per * max(1.0, slower), images * per
    per_image = nearest in PER_IMAGE  # measured growing with the images: launches alone cannot be the reading
    readings = (work, seconds) if per_image else (launches, work, seconds)
    how = "timed for this family" if timed else "not timed for this family: the slowest timed tower of its kind"
    said = (f"The vision tower adds {seconds:.2f} s to each micro-batch of {images} image{'s' if images > 1 else ''} "
            f"({per} s an image, {how}: {IMAGE_TIMED[nearest]}, with Unsloth's vision notebook settings on the H200). ")
    if per_image:
        said += (f"It is per image ({PER_IMAGE[nearest]}); whether a slower GPU stretches it by its TFLOPS or it is "
                 f"launches per image was not measured, so the range reaches {work:.2f} s on the {gpu_name}.")
    else:
        said += (f"Its split between kernel launches and work was not measured, so the range covers both: all "
                 f"launches, the same for any number of images on any GPU ({launches:.2f} s), or all work, per image "
                 f"and scaled to the {gpu_name}'s TFLOPS ({work:.2f} s).")
    return TowerTime(seconds, min(readings), max(readings), [said + " Larger images than the collator's default "
                                                              "resize take longer."])
