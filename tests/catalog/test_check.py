"""`catalog check` finds what the schema cannot see: unsourced facts, ids in the wrong slot,
unknown licences, and parameter counts or contexts that disagree with the architecture."""

from __future__ import annotations

from typing import Any

import pytest

from finetune_advisor.catalog.check import check
from finetune_advisor.catalog.schema import Catalog

# Granite 4.0 1B as its config.json has it (40 layers, hidden 2048, FFN 4096, 16 heads, 4 KV, vocab 100352).
GRANITE_1B = {"model_type": "granite", "num_hidden_layers": 40, "hidden_size": 2048, "intermediate_size": 4096,
              "num_attention_heads": 16, "num_key_value_heads": 4, "vocab_size": 100352, "tie_word_embeddings": True,
              "max_position_embeddings": 131072}
SOURCE = ["https://example.org/card"]
LICENCES = {"apache-2.0", "mit"}


def _entry(**changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": "granite-4.0-1b", "name": "Granite 4.0 1B", "family": "granite-4.0", "tasks": ["chat"],
        "instruct_id": "ibm-granite/granite-4.0-1b", "modalities": ["text"], "params_total_b": 1.63,
        "architecture": GRANITE_1B, "architecture_status": "verified", "context_length": 131072,
        "license_id": "apache-2.0", "unsloth": {"instruct": "unsloth/granite-4.0-1b"}, "sources": SOURCE,
        "fact_sources": {name: SOURCE for name in ("params_total_b", "architecture", "context_length", "license_id")},
    }
    entry.update(changes)
    return entry


def _problems(**changes: Any) -> list[str]:
    return [str(p) for p in check(Catalog(models=[_entry(**changes)]), LICENCES)]


def test_a_consistent_sourced_entry_passes() -> None:
    assert _problems() == []


def test_the_granite_1b_error_is_caught() -> None:
    """The catalog once said 1.0B for a config that adds up to 1.63B."""
    problems = _problems(params_total_b=1.0)
    assert len(problems) == 1 and "params_total_b" in problems[0] and "1.63B" in problems[0]


def test_an_explained_difference_passes() -> None:
    assert _problems(params_total_b=2.0, params_note="a 0.37B vision tower the text config does not describe") == []


def test_a_fact_without_a_source_is_reported_unless_marked_uncertain() -> None:
    sources = {"params_total_b": SOURCE, "architecture": SOURCE, "license_id": SOURCE}
    assert _problems(fact_sources=sources) == ["granite-4.0-1b: context_length: a fact without a source "
                                               "(add one, or list it in uncertain_fields)"]
    assert _problems(fact_sources=sources, uncertain_fields=["context_length"]) == []


def test_an_unknown_licence_is_reported() -> None:
    assert any("no licence data for 'granite-license'" in p for p in _problems(license_id="granite-license"))


@pytest.mark.parametrize("slot,repo", [
    ("instruct_bnb_4bit", "unsloth/granite-4.0-1b-unsloth-bnb-4bit"),
    ("instruct_unsloth_bnb_4bit", "unsloth/granite-4.0-1b-bnb-4bit"),
    ("instruct", "unsloth/granite-4.0-1b-bnb-4bit"),
])
def test_an_unsloth_id_in_the_wrong_slot_is_reported(slot: str, repo: str) -> None:
    problems = _problems(unsloth={slot: repo})
    assert len(problems) == 1 and f"unsloth.{slot}" in problems[0]


def test_a_dynamic_uploads_facts_need_the_uploads_they_describe_and_a_source() -> None:
    sized = {"instruct": {"size_gb": 1.2, "bnb_4bit_size_gb": 1.1}}
    both = {"instruct": "unsloth/granite-4.0-1b", "instruct_bnb_4bit": "unsloth/granite-4.0-1b-bnb-4bit",
            "instruct_unsloth_bnb_4bit": "unsloth/granite-4.0-1b-unsloth-bnb-4bit"}
    sources = {**_entry()["fact_sources"], "dynamic_4bit": SOURCE}
    assert _problems(dynamic_4bit=sized, unsloth=both, fact_sources=sources) == []
    missing = _problems(dynamic_4bit=sized, fact_sources=sources)
    assert [p.split(": ")[1] for p in missing] == ["dynamic_4bit.instruct"] * 2
    assert "unsloth.instruct_bnb_4bit" in missing[1]
    assert any("dynamic_4bit: a fact without a source" in p for p in _problems(dynamic_4bit=sized, unsloth=both))


def test_a_context_beyond_the_architecture_is_reported() -> None:
    problems = _problems(context_length=262144)
    assert len(problems) == 1 and "max_position_embeddings 131072" in problems[0]


def test_advice_for_a_family_the_catalog_lacks_is_reported() -> None:
    catalog = Catalog(models=[_entry()], families=[{"family": "qwen3.5", "avoid_methods": ["qlora"],
                                                    "fact_sources": {"avoid_methods": SOURCE}}])
    assert [str(p) for p in check(catalog, LICENCES)] == ["qwen3.5: family: advice for a family no catalog entry has"]


def test_advice_needs_its_source() -> None:
    with pytest.raises(ValueError, match="guidance without a source"):
        Catalog(models=[_entry()], families=[{"family": "granite-4.0", "avoid_methods": ["qlora"]}])


def test_float32_advice_that_disagrees_with_unsloths_list_is_reported() -> None:
    # Unsloth's list (by model_type) decides for models outside the catalog; a family's flag must say the same.
    flagged = {"family": "granite-4.0", "float32_without_bf16": True, "fact_sources": {"float32_without_bf16": SOURCE}}
    problems = [str(p) for p in check(Catalog(models=[_entry()], families=[flagged]), LICENCES)]
    assert problems == ["granite-4.0-1b: family.float32_without_bf16: family 'granite-4.0' says True, "
                        "Unsloth's list for model_type 'granite' says False"]
    gemma = _entry(id="gemma-3-1b", family="gemma-3", architecture={**GRANITE_1B, "model_type": "gemma3_text"})
    assert any("says False, Unsloth's list" in str(p) for p in check(Catalog(models=[gemma]), LICENCES))


@pytest.mark.parametrize("status", ["verified", "corroborated"])
def test_a_checked_architecture_needs_its_source_even_when_one_field_is_uncertain(status: str) -> None:
    """`architecture.max_position_embeddings` in uncertain_fields must not excuse the whole architecture from
    citing the copies it was checked against: the status is what recommend/estimate answers drop their caveat on."""
    sources = {"params_total_b": SOURCE, "context_length": SOURCE, "license_id": SOURCE}
    problems = _problems(architecture_status=status, fact_sources=sources,
                         uncertain_fields=["architecture.max_position_embeddings"])
    assert problems == [f"granite-4.0-1b: architecture: marked {status} but cites no source "
                        "(add the config copy to fact_sources.architecture, or mark it unverified)"]


def test_a_checked_architecture_cannot_be_uncertain_as_a_whole() -> None:
    problems = _problems(uncertain_fields=["architecture"])
    assert problems == ["granite-4.0-1b: architecture: marked verified but listed in uncertain_fields "
                        "(name only the uncertain field, e.g. architecture.max_position_embeddings, "
                        "or mark it unverified)"]
    assert _problems(uncertain_fields=["architecture.max_position_embeddings"]) == []


def test_a_specialised_model_borrowing_a_generic_base_is_reported() -> None:
    """Devstral once named Mistral Small 3.1's base as its own, so a code pick for 1,000+ rows loaded the generic
    model (and topped the list as Mistral Small 3.1 itself)."""
    base = {"base_id": "org/generic-24b-base", "fact_sources": {**_entry()["fact_sources"], "base_id": SOURCE}}
    generic = _entry(id="generic-24b", name="Generic 24B", instruct_id="org/generic-24b-instruct", **base)
    coder = _entry(id="coder-24b", name="Coder 24B", instruct_id="org/coder-24b", tasks=["code", "chat"],
                   specialised_for=["code"], **base)
    problems = [str(p) for p in check(Catalog(models=[coder, generic]), LICENCES)]
    assert problems == ["coder-24b: base_id: org/generic-24b-base: named as the base of generic-24b too, the model it "
                        "was post-trained from, not a base of its own (leave base_id and the base Unsloth uploads to "
                        "that entry)"]
    same_specialty = _entry(id="coder-24b-2", name="Coder 24B 2", instruct_id="org/coder-24b-2", tasks=["code"],
                            specialised_for=["code"], **base)
    assert [str(p) for p in check(Catalog(models=[coder, same_specialty]), LICENCES)] == []  # releases of one day


def test_a_later_post_train_borrowing_an_earlier_models_base_is_reported() -> None:
    """Granite 4.2 is a post-train of the Granite 4.1 bases, and named them as its own: a base-variant pick of
    "Granite 4.2 8B" loaded Granite 4.1's base under 4.2's name and date. The base Unsloth uploads count too (Qwen3-4B
    Instruct-2507 listed Qwen3-4B's)."""
    sources = {**_entry()["fact_sources"], "base_id": SOURCE, "unsloth": SOURCE, "release_date": SOURCE}
    older = _entry(id="m-4.1", name="M 4.1", instruct_id="org/m-4.1", base_id="org/m-4.1-base",
                   release_date="2026-04-29", fact_sources=sources)
    later = _entry(id="m-4.2", name="M 4.2", instruct_id="org/m-4.2", release_date="2026-08-25",
                   unsloth={"base": "unsloth/m-4.1-base", "instruct": "unsloth/m-4.2"}, fact_sources=sources)
    older["unsloth"] = {"base": "unsloth/m-4.1-base"}
    problems = [str(p) for p in check(Catalog(models=[later, older]), LICENCES)]
    assert problems == ["m-4.2: base_id: unsloth/m-4.1-base: named as the base of m-4.1 too, the model it was "
                        "post-trained from, not a base of its own (leave base_id and the base Unsloth uploads to that "
                        "entry)"]


def test_fused_projections_with_unsloth_uploads_need_the_uploads_layout() -> None:
    """Phi-3's layout fuses q/k/v and gate/up, which the LoRA names miss, and Unsloth converted some of its uploads to a
    split layout: which one a run loads changes the adapters counted, so the catalog must say, or say it does not know."""
    phi3 = {**GRANITE_1B, "model_type": "phi3"}
    fused = _problems(architecture=phi3, params_total_b=None)
    assert fused == ["granite-4.0-1b: unsloth_layout: fused projections with Unsloth uploads: cite the layout those "
                     "uploads are stored in (unsloth_layout, or a source that they keep the original's), or list "
                     "unsloth_layout in uncertain_fields"]
    sources = {**_entry()["fact_sources"], "unsloth_layout": SOURCE}
    assert _problems(architecture=phi3, params_total_b=None, fact_sources=sources) == []  # the original's, cited
    assert _problems(architecture=phi3, params_total_b=None, unsloth_layout="llama", fact_sources=sources) == []
    assert _problems(architecture=phi3, params_total_b=None, uncertain_fields=["unsloth_layout"]) == []
    assert _problems(architecture=phi3, params_total_b=None, unsloth={}) == []  # no Unsloth upload to ask about
