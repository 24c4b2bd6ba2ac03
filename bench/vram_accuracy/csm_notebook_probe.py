"""sesame/csm-1b fine-tuned the way Unsloth's TTS notebook does it, for its peak memory on the GPU machine.

    python bench/vram_accuracy/csm_notebook_probe.py > csm.json                 # Unsloth's path (the notebook's)
    python bench/vram_accuracy/csm_notebook_probe.py --stack peft > csm-peft.json
    python bench/vram_accuracy/csm_notebook_probe.py --method qlora > csm-4bit.json # the same, loaded in 4 bits
    python bench/vram_accuracy/csm_notebook_probe.py --check                    # CPU: inputs and loss, no training

Follows github unslothai/notebooks@bdda2ef:nb/Sesame_CSM_(1B)-TTS.ipynb (the helper's reading is summarised in
bench/vram_calibration/configs/csm-1b.json): `FastModel.from_pretrained(max_seq_length=2048, dtype=None,
auto_model=CsmForConditionalGeneration, load_in_4bit=False)`, `FastModel.get_peft_model(r=32, lora_alpha=32, the
seven projections, use_gradient_checkpointing="unsloth")`, and a plain transformers Trainer with batch 2, gradient
accumulation 4, adamw_8bit, bf16 where the GPU has it. Its rows are 256 text positions (right-padded) and 240,001
audio samples at 24 kHz; here every row carries a full 10 s clip (240,000 samples, 125 Mimi frames: the longest a
row of the notebook holds but one frame) after a short text, so the step is the notebook's largest.

No download: the model is built from configs/csm-1b.json (sesame/csm-1b's config.json) with random weights and
saved with a processor whose tokenizer is a stand-in holding the 128,256 text ids, `<|AUDIO|>` at 128002 and
`<|audio_eos|>` at 128003 as the real one does; the audio is random noise. `--stack peft` trains the same rows
through plain transformers + peft (transformers' gradient checkpointing) with the model in bf16 (fp16 without bf16)
and no autocast, the audio cast to the model's dtype: under bf16 autocast, transformers 5.17's csm sums the codebook
embeddings in float32 (autocast runs `sum` in fp32) and cannot put them into the bf16 text embeddings, which
stopped round 14's run before its first step. Carry the Unsloth wheels
(bench/vram_calibration/fetch_wheels.sh). Prints one JSON line with the allocator's peaks, NVML's peak for the
process, and the step times.
"""

from __future__ import annotations

import argparse
import json
import os

from probe import GIB, measure_process, step_timer

HERE = os.path.dirname(os.path.abspath(__file__))

CONFIG = os.path.join(os.path.dirname(HERE), "vram_calibration", "configs", "csm-1b.json")
TEXT_POSITIONS = 256  # the notebook's text max_length
SECONDS = 10  # its longest clip: 240,000 samples at 24 kHz, 125 Mimi frames at 12.5 a second
RATE, FRAME_RATE = 24_000, 12.5
AUDIO, AUDIO_EOS, BOS, PAD = 128002, 128003, 128000, 128001  # pad_token_id is 128002 too: pad with another id
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def csm_config():
    from transformers import AutoConfig

    fields = {k: v for k, v in json.load(open(CONFIG))["config"].items() if k not in ("transformers_version", "_name_or_path")}
    return AutoConfig.for_model(fields.pop("model_type"), **fields)


def stand_in_tokenizer(vocab_size: int):
    """A word-level tokenizer of VOCAB_SIZE ids with Llama 3's specials where CSM reads them."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    names = {BOS: "<|begin_of_text|>", PAD: "<|end_of_text|>", AUDIO: "<|AUDIO|>", AUDIO_EOS: "<|audio_eos|>"}
    vocab = {names.get(i, f"t{i}"): i for i in range(vocab_size)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="t0"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=names[BOS], eos_token=names[PAD], pad_token=names[PAD],
                                   unk_token="t0", model_max_length=2048)


def save_random_csm(folder: str, dtype) -> None:
    from transformers import CsmForConditionalGeneration, CsmProcessor, EncodecFeatureExtractor

    config = csm_config()
    CsmForConditionalGeneration(config).to(dtype).save_pretrained(folder)
    processor = CsmProcessor(feature_extractor=EncodecFeatureExtractor(feature_size=1, sampling_rate=24_000),
                             tokenizer=stand_in_tokenizer(config.text_vocab_size))
    processor.save_pretrained(folder)


def rows(n: int, seconds: float = SECONDS, positions: int = TEXT_POSITIONS) -> list[dict]:
    """N training rows as the notebook's processor gives them: a short text, a clip of SECONDS as its Mimi frames
    (audio positions), the audio's end, right padding to POSITIONS; labels on the audio positions only."""
    import torch

    samples, frames = int(seconds * RATE), int(seconds * FRAME_RATE)
    out = []
    for i in range(n):
        g = torch.Generator().manual_seed(i)
        text = [BOS, *torch.randint(1000, 100_000, (10,), generator=g).tolist()]
        ids = text + [AUDIO] * frames + [AUDIO_EOS]
        ids += [PAD] * (positions - len(ids))
        input_ids = torch.tensor(ids)
        real = len(text) + frames + 1
        out.append({"input_ids": input_ids, "attention_mask": (torch.arange(positions) < real).long(),
                    "labels": torch.where((input_ids == AUDIO) | (input_ids == AUDIO_EOS), input_ids, -100),
                    "input_values": 0.1 * torch.randn(1, samples, generator=g),
                    "input_values_cutoffs": torch.tensor([samples])})
    return out


def unsloth_model(folder: str, four_bit: bool):
    import torch
    from transformers import CsmForConditionalGeneration
    from unsloth import FastModel, is_bf16_supported

    save_random_csm(folder, torch.bfloat16 if is_bf16_supported() else torch.float16)
    model, _ = FastModel.from_pretrained(model_name=folder, max_seq_length=2048, dtype=None,
                                         auto_model=CsmForConditionalGeneration, load_in_4bit=four_bit)
    model = FastModel.get_peft_model(model, r=32, target_modules=TARGETS, lora_alpha=32, lora_dropout=0, bias="none",
                                     use_gradient_checkpointing="unsloth", random_state=3407, use_rslora=False,
                                     loftq_config=None)
    return model, {"fp16": not is_bf16_supported(), "bf16": is_bf16_supported()}


def peft_model():
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import CsmForConditionalGeneration

    bf16 = torch.cuda.is_bf16_supported()
    model = CsmForConditionalGeneration(csm_config()).to("cuda", torch.bfloat16 if bf16 else torch.float16)
    # Checkpointing is switched on here rather than by the Trainer: transformers' switch also hooks every input
    # embedding to return a tensor that requires grad, and csm's depth decoder then writes into that leaf in place
    # (round 15's run stopped there). Non-reentrant checkpointing does not need the hook, so it is taken off.
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model = get_peft_model(model, LoraConfig(r=32, lora_alpha=32, target_modules=TARGETS, lora_dropout=0.0))
    drop_input_grad_hooks(model)
    return model, {"fp16": False, "bf16": False}


def drop_input_grad_hooks(model) -> None:
    """Remove the forward hooks `enable_input_require_grads` put on input embeddings (it runs twice here, once from
    the checkpointing switch and once from peft, and keeps a handle only to the second call's hooks)."""
    for module in model.modules():
        for key, hook in list(module._forward_hooks.items()):
            if getattr(hook, "__name__", "") == "make_inputs_require_grads":
                del module._forward_hooks[key]


def collate_in(dtype):
    """The default collator, with the audio in the model's dtype (no autocast casts it on the peft path)."""
    from transformers import default_data_collator

    def collate(features):
        batch = default_data_collator(features)
        batch["input_values"] = batch["input_values"].to(dtype)
        return batch

    return collate


def check() -> None:
    """On the CPU, without Unsloth: the saved processor loads, the rows collate, and one forward gives a loss."""
    import tempfile

    import torch
    from transformers import AutoProcessor, CsmForConditionalGeneration, default_data_collator

    with tempfile.TemporaryDirectory() as folder:
        save_random_csm(folder, torch.float32)
        processor = AutoProcessor.from_pretrained(folder)
        model = CsmForConditionalGeneration.from_pretrained(folder)
    batch = default_data_collator(rows(2))
    with torch.no_grad():
        loss = model(**batch).loss
    print(json.dumps({"processor": type(processor).__name__, "audio_token_id": processor.audio_token_id,
                      "shapes": {k: list(v.shape) for k, v in batch.items()}, "loss": round(float(loss), 3)}))


def train(args: argparse.Namespace) -> dict:
    import torch
    from transformers import Trainer, TrainingArguments, default_data_collator

    torch.manual_seed(0)
    model, precision = unsloth_model(args.folder, args.method == "qlora") if args.stack == "unsloth" else peft_model()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    times: list[float] = []
    collator = default_data_collator if args.stack == "unsloth" else collate_in(model.dtype)
    trainer = Trainer(model=model, train_dataset=rows(8 * args.steps, args.seconds, args.positions), data_collator=collator,
                      callbacks=[step_timer(times)],
                      args=TrainingArguments(per_device_train_batch_size=2, gradient_accumulation_steps=4, warmup_steps=5,
                                             max_steps=args.steps, learning_rate=2e-4, logging_steps=1, optim="adamw_8bit",
                                             weight_decay=0.001, lr_scheduler_type="linear", seed=3407,
                                             output_dir="/tmp/csm_probe", report_to="none", save_strategy="no",
                                             remove_unused_columns=False, **precision))
    start = torch.cuda.max_memory_reserved() / GIB
    trainer.train()
    return {"stack": args.stack, "method": args.method, "trainable": trainable, "rows": f"2 x ({args.positions} text positions, {int(args.seconds * RATE)} samples)",
            "precision": {k: v for k, v in precision.items() if isinstance(v, bool)}, "start_reserved_gib": round(start, 3),
            "peak_reserved_gib": round(torch.cuda.max_memory_reserved() / GIB, 3),
            "peak_allocated_gib": round(torch.cuda.max_memory_allocated() / GIB, 3),
            "step_times_s": [round(t, 3) for t in times]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stack", choices=("peft", "unsloth"), default="unsloth")
    ap.add_argument("--method", choices=("lora", "qlora"), default="lora",
                    help="with --stack unsloth: qlora loads with load_in_4bit=True (the notebook's is False)")
    ap.add_argument("--steps", type=int, default=4, help="optimizer steps (4 micro-batches of 2 each)")
    ap.add_argument("--folder", default="/tmp/csm-1b-random", help="where --stack unsloth saves the model")
    ap.add_argument("--seconds", type=float, default=SECONDS, help="the clip in every row (default: the notebook's longest)")
    ap.add_argument("--positions", type=int, default=TEXT_POSITIONS, help="positions a row is padded to (the notebook's 256)")
    ap.add_argument("--check", action="store_true", help="CPU only: build, save, load, one forward")
    args = ap.parse_args()
    if args.method == "qlora" and args.stack != "unsloth":
        ap.error("--method qlora needs --stack unsloth")
    if args.check:
        return check()
    if args.stack == "unsloth":
        import unsloth  # noqa: F401 - before transformers, as Unsloth requires
    print(json.dumps(measure_process(lambda: train(args))))


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
