"""Where Unsloth's Whisper notebook spends its 10.35 GB: the training step, or the evaluation it runs.

    python bench/vram_accuracy/whisper_notebook_probe.py --eval off   --labels 64  > off.json
    python bench/vram_accuracy/whisper_notebook_probe.py --eval on    --labels 64  > on.json

Runs on a GPU machine with torch, transformers and peft (no download: Whisper large-v3 is built from its
config.json values with random weights, and the clips are random log-mel features). It follows
github unslothai/notebooks@bdda2ef:nb/Whisper.ipynb as far as plain transformers + peft can: fp16 weights
(Unsloth's dtype=None on a T4), LoRA r 64 / alpha 64 on q_proj and v_proj, gradient checkpointing,
Seq2SeqTrainer with per_device_train_batch_size 1, gradient_accumulation_steps 4, fp16, eval every 5 steps
over 72 clips at the default per_device_eval_batch_size (8), predictions accumulated on the GPU (no
eval_accumulation_steps), as the notebook leaves them. What it cannot follow: Unsloth's offloaded
checkpointing (its activations are small here either way: about one layer's worth), adamw_8bit (no
bitsandbytes in the image: adamw_torch holds 6 bytes more per trainable parameter, 0.18 GiB), and the
notebook's transformers 4.56 (the image has 5.x). It prints one JSON line: peak reserved GiB at the
notebook's "start" point (after load, LoRA and trainer set-up) and after training.

Round 11 (2026-12-02, one H200) ran it once with the model built on the GPU in fp32, which set both
runs' allocated peak (6.12 GiB) before training began; data/whisper_probe.jsonl keeps the figures with
that caveat. The build is now on the CPU: run it again to see the training step's own peak.
"""

from __future__ import annotations

import argparse
import json

# openai/whisper-large-v3 config.json (the catalog entry's architecture and its sources).
LARGE_V3 = {"d_model": 1280, "encoder_layers": 32, "decoder_layers": 32, "encoder_attention_heads": 20,
            "decoder_attention_heads": 20, "encoder_ffn_dim": 5120, "decoder_ffn_dim": 5120, "num_mel_bins": 128,
            "vocab_size": 51866, "max_source_positions": 1500, "max_target_positions": 448}


def main() -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import (
        Seq2SeqTrainer,
        Seq2SeqTrainingArguments,
        WhisperConfig,
        WhisperForConditionalGeneration,
    )

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--eval", choices=("on", "off"), default="on")
    ap.add_argument("--labels", type=int, default=64, help="longest label length; clips get 1/4 to all of it")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--optim", default="adamw_8bit", help="the notebook's; adamw_torch where bitsandbytes is missing")
    args = ap.parse_args()
    gib = 1024**3
    torch.manual_seed(0)
    # Built on the CPU and moved in fp16: built on the GPU, the fp32 model (6.1 GiB) set the peak of round 11's
    # run and hid the training step's own (data/whisper_probe.jsonl).
    model = WhisperForConditionalGeneration(WhisperConfig(**LARGE_V3)).to("cuda", torch.float16)
    model = get_peft_model(model, LoraConfig(r=64, lora_alpha=64, target_modules=["q_proj", "v_proj"], lora_dropout=0.0))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)

    def clip(i: int) -> dict:
        g = torch.Generator().manual_seed(i)
        n = int(torch.randint(max(1, args.labels // 4), args.labels + 1, (1,), generator=g))
        return {"input_features": torch.randn(128, 3000, generator=g),
                "labels": torch.randint(0, LARGE_V3["vocab_size"], (n,), generator=g)}

    def collate(rows: list[dict]) -> dict:
        longest = max(len(r["labels"]) for r in rows)
        labels = torch.full((len(rows), longest), -100, dtype=torch.long)
        for i, r in enumerate(rows):
            labels[i, : len(r["labels"])] = r["labels"]
        return {"input_features": torch.stack([r["input_features"] for r in rows]), "labels": labels}

    train = [clip(i) for i in range(4 * args.steps)]
    test = [clip(10_000 + i) for i in range(72)]
    on = args.eval == "on"
    trainer = Seq2SeqTrainer(
        model=model, train_dataset=train, eval_dataset=test if on else None, data_collator=collate,
        compute_metrics=(lambda pred: {"n": float(pred.predictions[0].argmax(-1).size)}) if on else None,
        args=Seq2SeqTrainingArguments(
            per_device_train_batch_size=1, gradient_accumulation_steps=4, warmup_steps=5, max_steps=args.steps,
            learning_rate=1e-4, logging_steps=1, optim=args.optim, fp16=True, weight_decay=0.001,
            remove_unused_columns=False, lr_scheduler_type="linear", label_names=["labels"],
            eval_steps=5, eval_strategy="steps" if on else "no", seed=3407, output_dir="/tmp/whisper_probe",
            report_to="none", gradient_checkpointing=True, gradient_checkpointing_kwargs={"use_reentrant": False},
            save_strategy="no",
        ),
    )
    start = torch.cuda.max_memory_reserved() / gib
    trainer.train()
    print(json.dumps({"eval": args.eval, "labels_max": args.labels, "optim": args.optim, "trainable": trainable,
                      "start_reserved_gib": round(start, 3),
                      "peak_reserved_gib": round(torch.cuda.max_memory_reserved() / gib, 3),
                      "peak_allocated_gib": round(torch.cuda.max_memory_allocated() / gib, 3),
                      "torch": torch.__version__, "gpu": torch.cuda.get_device_name(0)}))


if __name__ == "__main__":
    main()
