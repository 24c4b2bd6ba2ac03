"""Where Unsloth's Whisper notebook spends its 10.35 GB: the training step, or the evaluation it runs.

    python bench/vram_accuracy/whisper_notebook_probe.py --eval off --labels 64 > off.json
    python bench/vram_accuracy/whisper_notebook_probe.py --eval on  --labels 64 > on.json
    python bench/vram_accuracy/whisper_notebook_probe.py --stack unsloth --eval off > unsloth-off.json

Runs on a GPU machine (no download: Whisper large-v3 is built from its config.json values with random
weights, and the clips are random log-mel features). It follows github unslothai/notebooks@bdda2ef:nb/Whisper.ipynb:
LoRA r 64 / alpha 64 on q_proj and v_proj, Seq2SeqTrainer with per_device_train_batch_size 1,
gradient_accumulation_steps 4, adamw_8bit, eval every 5 steps over 72 clips at the default
per_device_eval_batch_size (8), predictions accumulated on the GPU (no eval_accumulation_steps), as the
notebook leaves them.

- `--stack peft` (the default): plain transformers + peft, fp16 weights (Unsloth's dtype=None on a T4),
  transformers' gradient checkpointing; not Unsloth's offloaded checkpointing.
- `--stack unsloth`: Unsloth's own path, as the notebook calls it: the model and a WhisperProcessor are saved
  to a folder first (the processor's tokenizer is a stand-in with Whisper large-v3's 51,866 ids, its special
  tokens at their real ids, so that whisper_language / whisper_task resolve), then
  `FastModel.from_pretrained(dtype=None, load_in_4bit=False, auto_model=WhisperForConditionalGeneration,
  whisper_language="English", whisper_task="transcribe")` and `FastModel.get_peft_model(...,
  use_gradient_checkpointing="unsloth", task_type=None)`; bf16 where the GPU has it, else fp16, as the
  notebook's `is_bf16_supported()` picks. Carry the Unsloth wheels (bench/vram_calibration/fetch_wheels.sh).

It prints one JSON line: peak reserved GiB at the notebook's "start" point (after load, LoRA and trainer
set-up) and after training, the peak allocated, and NVML's peak for the process (the calibration cells'
target: the allocator's reserve plus the CUDA context and kernels).

Round 11 (2026-12-02, one H200) ran the peft path once with the model built on the GPU in fp32, which set
both runs' allocated peak (6.12 GiB) before training began; data/whisper_probe.jsonl keeps the figures with
that caveat. The build is now on the CPU. Round 13 ran the Unsloth path (4.38 GiB, evaluation off; 7.31 on) and
round 14 the peft path again (4.56 GiB, evaluation off): bench/vram_accuracy/README.md scores them.
"""

from __future__ import annotations

import argparse
import json
import os

from probe import GIB, measure_process

# openai/whisper-large-v3 config.json (the catalog entry's architecture and its sources).
LARGE_V3 = {"d_model": 1280, "encoder_layers": 32, "decoder_layers": 32, "encoder_attention_heads": 20,
            "decoder_attention_heads": 20, "encoder_ffn_dim": 5120, "decoder_ffn_dim": 5120, "num_mel_bins": 128,
            "vocab_size": 51866, "max_source_positions": 1500, "max_target_positions": 448}


def whisper_tokenizer(vocab_size: int = LARGE_V3["vocab_size"]):
    """A byte-level BPE stand-in with no merges whose special tokens sit at Whisper large-v3's ids:
    <|endoftext|> 50257, <|startoftranscript|> 50258, the 100 languages, the task and control tokens, then the
    1,501 timestamps up to 51865. The text it encodes is never used: labels are random ids."""
    from tokenizers import pre_tokenizers
    from transformers import WhisperTokenizer
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    specials = ["<|startoftranscript|>", *[f"<|{code}|>" for code in LANGUAGES], "<|translate|>", "<|transcribe|>",
                "<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>"]
    timestamps = [f"<|{i * 0.02:.2f}|>" for i in range(1501)]
    plain = vocab_size - 1 - len(specials) - len(timestamps)  # <|endoftext|> comes with the constructor
    vocab = {c: i for i, c in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    vocab.update({f"x{i}": i for i in range(len(vocab), plain)})
    tok = WhisperTokenizer(vocab=vocab, merges=[])
    tok.add_special_tokens({"additional_special_tokens": specials})
    tok.add_tokens(timestamps)
    assert len(tok) == vocab_size, len(tok)
    return tok


def save_random_whisper(folder: str) -> None:
    """Whisper large-v3 with random fp16 weights (built on the CPU) and its processor, as a checkpoint folder."""
    import torch
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration, WhisperProcessor

    WhisperForConditionalGeneration(WhisperConfig(**LARGE_V3)).to(torch.float16).save_pretrained(folder)
    features = WhisperFeatureExtractor(feature_size=LARGE_V3["num_mel_bins"])
    WhisperProcessor(feature_extractor=features, tokenizer=whisper_tokenizer()).save_pretrained(folder)


def peft_model():
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    # Built on the CPU and moved in fp16: built on the GPU, the fp32 model (6.1 GiB) set the peak of round 11's
    # run and hid the training step's own (data/whisper_probe.jsonl).
    model = WhisperForConditionalGeneration(WhisperConfig(**LARGE_V3)).to("cuda", torch.float16)
    lora = LoraConfig(r=64, lora_alpha=64, target_modules=["q_proj", "v_proj"], lora_dropout=0.0)
    return get_peft_model(model, lora), {"fp16": True, "gradient_checkpointing": True,
                                         "gradient_checkpointing_kwargs": {"use_reentrant": False}}


def unsloth_model(folder: str):
    from transformers import WhisperForConditionalGeneration
    from unsloth import FastModel, is_bf16_supported

    save_random_whisper(folder)
    model, _ = FastModel.from_pretrained(model_name=folder, dtype=None, load_in_4bit=False,
                                         auto_model=WhisperForConditionalGeneration, whisper_language="English",
                                         whisper_task="transcribe")
    model = FastModel.get_peft_model(model, r=64, target_modules=["q_proj", "v_proj"], lora_alpha=64, lora_dropout=0,
                                     bias="none", use_gradient_checkpointing="unsloth", random_state=3407,
                                     use_rslora=False, loftq_config=None, task_type=None)
    return model, {"fp16": not is_bf16_supported(), "bf16": is_bf16_supported()}


def clips(labels_max: int, n: int, first: int) -> list[dict]:
    """N random 30 s clips (128 x 3000 log-mel frames) with transcripts of a quarter to all of LABELS_MAX ids."""
    import torch

    out = []
    for i in range(first, first + n):
        g = torch.Generator().manual_seed(i)
        length = int(torch.randint(max(1, labels_max // 4), labels_max + 1, (1,), generator=g))
        out.append({"input_features": torch.randn(LARGE_V3["num_mel_bins"], 3000, generator=g),
                    "labels": torch.randint(0, LARGE_V3["vocab_size"], (length,), generator=g)})
    return out


def collate(rows: list[dict]) -> dict:
    import torch

    labels = torch.full((len(rows), max(len(r["labels"]) for r in rows)), -100, dtype=torch.long)
    for i, r in enumerate(rows):
        labels[i, : len(r["labels"])] = r["labels"]
    return {"input_features": torch.stack([r["input_features"] for r in rows]), "labels": labels}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stack", choices=("peft", "unsloth"), default="peft")
    ap.add_argument("--eval", choices=("on", "off"), default="on")
    ap.add_argument("--labels", type=int, default=64, help="longest label length; clips get 1/4 to all of it")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--optim", default="adamw_8bit", help="the notebook's; adamw_torch where bitsandbytes is missing")
    ap.add_argument("--folder", default="/tmp/whisper-large-v3-random", help="where --stack unsloth saves the model")
    args = ap.parse_args()
    if args.stack == "unsloth":
        import unsloth  # noqa: F401 - before transformers, as Unsloth requires
    result = measure_process(lambda: train(args))
    print(json.dumps({**result, "unsloth": _version("unsloth"), "transformers": _version("transformers")}))


def train(args: argparse.Namespace) -> dict:
    """Load, wrap and train as the notebook does; the allocator's peaks at its "start" point and at the end."""
    import torch
    from transformers import Seq2SeqTrainer, Seq2SeqTrainingArguments

    torch.manual_seed(0)
    model, precision = unsloth_model(args.folder) if args.stack == "unsloth" else peft_model()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    on = args.eval == "on"
    trainer = Seq2SeqTrainer(
        model=model, train_dataset=clips(args.labels, 4 * args.steps, 0), data_collator=collate,
        eval_dataset=clips(args.labels, 72, 10_000) if on else None,
        compute_metrics=(lambda pred: {"n": float(pred.predictions[0].argmax(-1).size)}) if on else None,
        args=Seq2SeqTrainingArguments(
            per_device_train_batch_size=1, gradient_accumulation_steps=4, warmup_steps=5, max_steps=args.steps,
            learning_rate=1e-4, logging_steps=1, optim=args.optim, weight_decay=0.001, remove_unused_columns=False,
            lr_scheduler_type="linear", label_names=["labels"], eval_steps=5, eval_strategy="steps" if on else "no",
            seed=3407, output_dir="/tmp/whisper_probe", report_to="none", save_strategy="no", **precision,
        ),
    )
    start = torch.cuda.max_memory_reserved() / GIB
    trainer.train()
    return {"stack": args.stack, "eval": args.eval, "labels_max": args.labels, "optim": args.optim,
            "trainable": trainable, "precision": {k: v for k, v in precision.items() if isinstance(v, bool)},
            "start_reserved_gib": round(start, 3), "peak_reserved_gib": round(torch.cuda.max_memory_reserved() / GIB, 3),
            "peak_allocated_gib": round(torch.cuda.max_memory_allocated() / GIB, 3)}


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
