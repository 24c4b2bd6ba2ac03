"""The packaged knowledge notes (the offline answers) and the local search over them."""

from __future__ import annotations

import re

import pytest

from finetune_advisor.errors import DataError
from finetune_advisor.unsloth_docs.notes import load_notes, parse_note, search, tokens

NOTES = load_notes()
BY_SLUG = {n.slug: n for n in NOTES}


def test_every_topic_the_issue_asks_for_has_a_note() -> None:
    """The guide's rules, VRAM table, base vs instruct, chat templates, dataset sizes, LoRA, multi-GPU, naming."""
    assert {
        "choosing-a-model",
        "vram-requirements",
        "base-vs-instruct",
        "chat-templates",
        "datasets",
        "lora-hyperparameters",
        "multi-gpu",
        "model-variants",
        "system-requirements",
    } <= set(BY_SLUG)


@pytest.mark.parametrize("note", NOTES, ids=lambda n: n.slug)
def test_each_note_is_sourced_titled_and_keyworded(note) -> None:
    """If this fails, fix the note's front matter: title, `sources:` lines `- Title | https://...`, keywords."""
    assert note.title and len(note.keywords) >= 5 and len(note.body) > 200
    assert note.sources
    for source in note.sources:
        assert source.url.startswith(("https://unsloth.ai/docs/", "https://github.com/unslothai/", "https://huggingface.co/"))
        assert " " not in source.url and source.title


def test_vram_note_has_the_docs_table() -> None:
    """Figures from the requirements page (reference/unsloth-docs.md §1.3), copied here by hand as a check."""
    expected = {
        "3B": ("3.5", "8"), "7B": ("5", "19"), "8B": ("6", "22"), "9B": ("6.5", "24"), "11B": ("7.5", "29"),
        "14B": ("8.5", "33"), "27B": ("22", "64"), "32B": ("26", "76"), "40B": ("30", "96"), "70B": ("41", "164"),
        "81B": ("48", "192"), "90B": ("53", "212"), "405B": ("237", "950"),
    }  # fmt: skip
    rows = re.findall(r"^\| (\d+B) \| ([\d.]+) GB \| ([\d.]+) GB \|$", BY_SLUG["vram-requirements"].body, re.MULTILINE)
    assert {size: (q, l) for size, q, l in rows} == expected


def test_base_vs_instruct_note_has_the_thresholds() -> None:
    body = BY_SLUG["base-vs-instruct"].body
    assert "| more than 1,000 | the **Base** model |" in body
    assert "| 300 to 1,000, of high quality | either one works |" in body
    assert "| fewer than 300 | the **Instruct** model |" in body


def test_variant_note_names_the_three_suffixes() -> None:
    body = BY_SLUG["model-variants"].body
    for suffix in ("`-unsloth-bnb-4bit`", "`-bnb-4bit`", "no suffix"):
        assert suffix in body


@pytest.mark.parametrize(
    ("question", "slug"),
    [
        ("How much VRAM do I need to fine-tune a 70B model with QLoRA?", "vram-requirements"),
        ("Will Llama 3.1 8B fit on a 24 GB GPU?", "vram-requirements"),
        ("I have 500 rows: base or instruct?", "base-vs-instruct"),
        ("What learning rate and LoRA rank should I use?", "lora-hyperparameters"),
        ("Which chat template for Qwen 2.5?", "chat-templates"),
        ("Can I train on two GPUs with DDP?", "multi-gpu"),
        ("What does -unsloth-bnb-4bit mean in a model name?", "model-variants"),
        ("How big should my dataset be?", "datasets"),
        ("Which model should I pick for a vision use case?", "choosing-a-model"),
        ("Does Unsloth run on AMD GPUs or a Mac?", "system-requirements"),
        ("微调 70B 模型需要多少显存？", "vram-requirements"),
        ("多卡训练怎么做", "multi-gpu"),
        ("学习率应该设多少", "lora-hyperparameters"),
    ],
)
def test_questions_find_the_right_note_first(question: str, slug: str) -> None:
    hits = search(question, NOTES)
    assert hits and hits[0].note.slug == slug, [h.note.slug for h in hits]


@pytest.mark.parametrize("question", ["Tell me a joke about cats", "What is the weather in Paris?", "", "???"])
def test_unrelated_questions_match_nothing(question: str) -> None:
    assert search(question, NOTES) == []


def test_results_are_bounded_and_ordered() -> None:
    hits = search("dataset rows base instruct vram lora template gpu", NOTES, limit=3)
    assert 1 <= len(hits) <= 3
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_tokens() -> None:
    assert tokens("How many GPUs for the datasets?") == ["gpu", "dataset"]
    assert tokens("需要显存") == ["需要", "要显", "显存"]
    assert tokens("Qwen2.5-7B bnb-4bit") == ["qwen2", "5", "7b", "bnb", "4bit"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("no front matter", "missing '---' front matter"),
        ("---\ntitle: T\nkeywords: a\n---\nbody", "missing sources"),
        ("---\ntitle: T\nsources:\n  - no url here\nkeywords: a\n---\nbody", "is not '- Title | https://...'"),
        ("---\ntitle: T\nsources:\n  - A | ftp://x\nkeywords: a\n---\nbody", "is not '- Title | https://...'"),
        ("---\ntitle: T\nsources:\n  - A | https://x\nkeywords: a\n---\n", "missing body"),
        ("---\ntitle: T\n  stray\n---\nbody", "cannot read front matter line"),
    ],
)
def test_malformed_notes_are_reported_by_name(text: str, problem: str) -> None:
    with pytest.raises(DataError) as err:
        parse_note("bad-note", text)
    assert "'bad-note'" in str(err.value) and problem in str(err.value)
