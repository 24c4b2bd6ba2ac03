"""What a row's images or audio add to a training step beyond their tokens (pure): the activations of the encoder
that reads them, as measured on the GPU machine (bench/vram_accuracy, the notebook probes), and the sentences that
say so. `estimator` adds the bytes to the step; `terms.weights` counts the encoders' parameters."""

from __future__ import annotations

from dataclasses import dataclass

from finetune_advisor.errors import InvalidInputError
from finetune_advisor.vram import constants as k
from finetune_advisor.vram.families import family_of, figure_family
from finetune_advisor.vram.run import RunConfig

# csm (Sesame CSM-1B): each audio frame of a row (12.5 a second) runs through Mimi's encoder as 1,920 samples and
# through the depth decoder as 32 codebook positions, none of which the backbone's tokens count. Measured as the
# step's peak beyond the estimate for its text positions, with Unsloth's TTS notebook settings (LoRA r32 on the seven
# projections, 2 rows, one H200; bench/vram_accuracy/data/csm_probe.jsonl, round 15): QLoRA with 4 s, 10 s and 20 s
# clips (256, 256 and 512 positions) 1.14, 2.13 and 4.26 GiB over 100, 250 and 500 frames, which a fixed 0.36 GiB
# a step and 0.0079 GiB a frame cover (0-4 % over each peak); transformers + peft in bf16, 10 s clips, 1.76 GiB over
# 250 frames, taken in the same proportion (0.83 of Unsloth's: Unsloth keeps csm's codec in float32).
CSM_STEP_GIB = {"unsloth": (0.36, 0.0079), "transformers": (0.30, 0.0065)}  # (fixed a step, a frame)
# The notebook's rows: a short text, a clip of at most 10 s (125 frames) and its end, padded to 256 positions; a run
# is counted with its positions audio in that share, up to one utterance of 30 s a row (an assumption: TTS rows are
# single utterances, and a long seq_len is mostly padding or text rather than minutes of audio).
CSM_AUDIO_SHARE = 125 / 256
CSM_FRAMES_PER_SECOND = 12.5
CSM_ROW_SECONDS = 30

# GiB a step grows by for each image in the micro-batch, beyond the image's tokens in seq_len, at the vision data
# collator's default resize (unsloth_zoo 2026.10.9, resize='min'), measured with Unsloth's vision notebook settings
# (bench/vram_accuracy/data/vision_probe.jsonl, one H200). Gemma 3's SigLIP tower (4B, 12B and 27B share it) reads
# every image at 896 pixels, 4,096 patches pooled to 256 tokens: QLoRA, 2 rows of 1 and 2 images, 0.12 and 0.15 GiB
# an image; LoRA, 2 rows of 2 images, 0.16 (round 15). Qwen2.5-VL-7B's tower, 4 patches a token: QLoRA, 2 rows of
# one image of 324 or 1,225 tokens, within the tokens' count (the estimate 2.3 % and 0.3 % above; round 14); LoRA on
# Gemma 3, 1 image a row, 0.16 (round 16: 10.15 GiB measured, 10.16 answered). Llama 3.2 11B Vision QLoRA, 2 rows of
# one image (round 16): 10.35 GiB, 1.67 above its text positions' estimate, for one tile an image and for four alike:
# its processor pads every image to the config's max_num_tiles (transformers' Mllama docs: "pad the inputs ... to a
# maximum number of tiles within each image"; 4 x 1,601 positions through a 40-layer tower with LoRA on it, as the
# notebook trains it), and the eight cross-attention layers read all of them. At one, two and four images a micro-batch
# (round 17: 9.35, 10.35, 12.37 GiB) the peak grew about 1.0 GiB an image beyond the first; 0.92 an image on top of the
# text estimate is 0.3-2.6 % above each of the three. Qwen3-VL 8B's tower (16-pixel patches merged 2 x 2: 1,024
# patches, 256 tokens an image at the collator's 512 pixels), 2 rows of one image (one H100, 2026-12-06): QLoRA 8.48 GiB
# and LoRA 17.97, the tokens' count alone 2.4 % and 1.2 % above; Gemma 3's 0.16 an image, carried over before, put
# them 6.2 % and 3.0 % above.
IMAGE_GIB = {"gemma3": 0.16, "qwen2_5_vl": 0.0, "qwen3_vl": 0.0, "mllama": 0.92}
IMAGE_RUNS = {
    "gemma3": "Gemma 3 4B QLoRA and LoRA, 2 rows of 1 or 2 images (0.12-0.16 GiB an image beyond the tokens), one H200",
    "qwen2_5_vl": "Qwen2.5-VL-7B QLoRA, 2 rows of one image of 324 or 1,225 tokens (no more than the tokens' count), "
                  "one H200",
    "qwen3_vl": "Qwen3-VL 8B QLoRA and LoRA, 2 rows of one image of 256 tokens (no more than the tokens' count), "
                "one H100",
    "mllama": "Llama 3.2 11B Vision QLoRA, 1, 2 and 4 rows of one image, at one tile and at four alike (the "
              "processor pads every image to 4 tiles), one H200",
}
# A tower not measured carries the most that a measured tower of its kind needed (families.figure_family): towers
# whose image tokens sit in the sequence (Gemma 3's), or cross-attention (Llama 3.2 Vision's).


@dataclass(frozen=True)
class RowsStep:
    bytes: float  # added to the step's activations
    notes: list[str]


def rows_step(model_type: str, extras: str, takes_images: bool, run: RunConfig, fp32: bool = False) -> RowsStep:
    """What the rows' audio (csm: always) or `run.images_per_row` images add to a step, with the answer's sentences.
    `extras` is families.extras_kind; `takes_images` whether the model reads images; `fp32` whether activations are
    float32 (Unsloth's float32 path on a GPU without bf16)."""
    if run.images_per_row and not takes_images:
        raise InvalidInputError("images_per_row", f"{run.images_per_row}, but this model does not read images as "
                                "far as we know (the catalog lists no image input, or the config has no vision_config)",
                                "0 for this model")
    if extras == "audio":
        return _audio(run)
    return _images(family_of(model_type), extras, run, fp32) if takes_images else RowsStep(0.0, [])


def _audio(run: RunConfig) -> RowsStep:
    row = min(run.seq_len * CSM_AUDIO_SHARE, CSM_ROW_SECONDS * CSM_FRAMES_PER_SECOND)
    fixed, per = CSM_STEP_GIB[run.stack]
    frames = run.batch_size * row
    gib = fixed + frames * per
    second = per * CSM_FRAMES_PER_SECOND * run.batch_size
    return RowsStep(gib * k.GIB, [
        f"Audio rows (csm): {row / CSM_FRAMES_PER_SECOND:.0f} s of audio a row ({row:.0f} frames, the notebook's share "
        f"of 10 s in 256 positions, at most 30 s) add {gib:.2f} GiB for Mimi's encoder and the depth decoder "
        f"({fixed} GiB a step and {per} GiB a frame in the micro-batch, measured on csm-1b with 4, 10 and 20 s "
        f"clips). Each second of audio a row more or less changes that by {second:.2f} GiB."])


def _images(family: str, extras: str, run: RunConfig, fp32: bool) -> RowsStep:
    if not run.images_per_row:
        text_rows = _TEXT_ROWS + (_CROSS_ATTENTION if extras == "cross_attention" else _image_tokens(run.stack))
        return RowsStep(0.0, [text_rows.strip()])
    images = run.images_per_row * run.batch_size
    nearest = figure_family(family, IMAGE_GIB)
    measured = nearest == family
    per = IMAGE_GIB[nearest] * (2 if fp32 else 1)
    how = (f"measured: {IMAGE_RUNS[family]}" if measured else
           f"not measured for this family: the most a measured tower of its kind needed, {IMAGE_RUNS[nearest]}, "
           "carried over")
    how += "; doubled here, where Unsloth trains with float32 activations (not measured)" if fp32 and per else ""
    return RowsStep(images * per * k.GIB, [
        f"{images} image{'s' if images > 1 else ''} in the micro-batch ({run.images_per_row} a row) add "
        f"{images * per:.2f} GiB for the vision tower's activations at the collator's default resize ({per} GiB an "
        f"image; {how})."
        + (_CROSS_ATTENTION if extras == "cross_attention" else _image_tokens(run.stack))
        + ("" if run.stack == "unsloth" else " The towers were measured on the Unsloth stack.")])


def _image_tokens(stack: str) -> str:
    """How many tokens an image puts in seq_len: Unsloth's collator shrinks images first; without it the processor
    takes them at their own size."""
    return _IMAGE_TOKENS if stack == "unsloth" else _IMAGE_TOKENS_PROCESSOR


_TEXT_ROWS = (" Counted for text rows: for rows with images, give 'images_per_row'; their "
              "tower's activations are then added.")
_IMAGE_TOKENS = (" Count an image's tokens in 'seq_len': Unsloth's vision data collator first shrinks each image to the "
                 "vision config's image_size, or to 512 pixels where it states none (unsloth_zoo 2026.10.9, "
                 "resize='min'; Qwen2.5-VL: 324 tokens an image, Qwen3-VL and Gemma 3: 256).")
_IMAGE_TOKENS_PROCESSOR = (" Count an image's tokens in 'seq_len' as the model's processor makes them: without "
                            "Unsloth's vision data collator, which shrinks images first, a processor that sizes its "
                            "tokens by the image (Qwen2.5-VL, Qwen3-VL) gives a large image more.")
_CROSS_ATTENTION = (" Llama 3.2 Vision puts one token an image in 'seq_len': the image reaches the language model "
                    "through its cross-attention layers as 560-pixel tiles of 1,601 positions, and its processor "
                    "pads every image to 4 tiles, so an image costs the same whatever its size.")
