"""The packaged knowledge notes (the offline answers), the list of docs pages they point to, and
the answer built from them. Which question each note covers: test_matching.py."""

from __future__ import annotations

import re

import pytest

from finetune_advisor.errors import DataError
from finetune_advisor.unsloth_docs.notes import (
    covering_notes,
    library,
    load_notes,
    parse_note,
    parse_pages,
)

NOTES = load_notes()
BY_SLUG = {n.slug: n for n in NOTES}


def test_every_topic_the_issues_ask_for_has_a_note() -> None:
    """Issue 11: the guide's rules, VRAM table, base vs instruct, chat templates, dataset sizes, LoRA,
    multi-GPU, naming. Issue 14: GGUF/export, GRPO/RL, templates for base vs instruct, dataset formats,
    saving and merging, vision and TTS fine-tuning."""
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
        "gguf-export",
        "grpo-and-rl",
        "templates-for-base-and-instruct",
        "dataset-formats",
        "saving-and-merging",
        "vision-fine-tuning",
        "tts-fine-tuning",
    } <= set(BY_SLUG)


@pytest.mark.parametrize("note", NOTES, ids=lambda n: n.slug)
def test_each_note_is_sourced_titled_and_keyworded(note) -> None:
    """If this fails, fix the note's front matter: title, `sources:` lines `- Title | https://...`, keywords."""
    assert note.title and len(note.keywords) >= 5 and len(note.body) > 200
    assert note.sources and note.sources[0].url.startswith("https://unsloth.ai/docs/")  # the page to read first
    for source in note.sources:
        # Unsloth's docs and code, the Hub, and this project's own measurements (for what a note says was measured).
        assert source.url.startswith(("https://unsloth.ai/docs/", "https://github.com/unslothai/", "https://huggingface.co/",
                                      "https://github.com/finetune-advisor/finetune-advisor/blob/main/bench/"))
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
    notes = covering_notes(question)
    assert notes and notes[0].slug == slug, [n.slug for n in notes]


@pytest.mark.parametrize("question", ["Tell me a joke about cats", "What is the weather in Paris?", "", "???"])
def test_unrelated_questions_match_nothing(question: str) -> None:
    assert covering_notes(question) == []


def test_at_most_two_notes_answer_one_question() -> None:
    notes = covering_notes("How do I merge my LoRA adapter and export it to GGUF for Ollama?")
    assert 1 <= len(notes) <= 2 and {n.slug for n in notes} <= {"gguf-export", "saving-and-merging"}


def test_the_packaged_page_list_loads_with_distinct_docs_pages() -> None:
    pages = library().pages
    urls = [p.url for p in pages]
    assert len(urls) == len(set(urls)) >= 10
    assert all(u.startswith("https://unsloth.ai/docs/") and p.title and p.keywords for u, p in zip(urls, pages))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[[page]]\ntitle = 'T'\n", "knowledge page 1 ('T'): needs exactly title, url and keywords"),
        ("[[page]]\ntitle = 'T'\nurl = 'https://evil.example/x'\nkeywords = ['a']\n", "url must be a page under https://unsloth.ai/docs"),
        ("[[page]]\ntitle = 'T'\nurl = 'https://unsloth.ai/docs/x'\nkeywords = []\n", "keywords must be a non-empty list"),
        ("[[page]]\ntitle = ''\nurl = 'https://unsloth.ai/docs/x'\nkeywords = ['a']\n", "title must be a non-empty string"),
        ("[[pages]]\ntitle = 'T'\n", "expected only [[page]] tables"),
        ("[[page]\n", "not valid TOML"),
    ],
)
def test_malformed_page_lists_are_reported(text: str, problem: str) -> None:
    with pytest.raises(DataError, match=re.escape(problem)):
        parse_pages(text)


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
