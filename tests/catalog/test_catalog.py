"""The packaged catalog (validated through load_catalog(), not a copy), resolve/closest, and the cache copy.

If a data test fails after you edit the catalog source (finetune_advisor/catalog/data), fix the data:
every fact needs a source, unverified values belong in `uncertain_fields`, and ids stay sorted.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timedelta, timezone
from importlib.resources import files
from pathlib import Path

import pytest
from planted import plant_fifo, within

from finetune_advisor.adapters.cache import catalog_note, catalog_path, load_catalog
from finetune_advisor.catalog import naming
from finetune_advisor.catalog.resolve import closest, model_ids, resolve
from finetune_advisor.catalog.schema import Catalog, CatalogEntry, UnslothIds
from finetune_advisor.catalog.store import load_packaged
from finetune_advisor.errors import UnknownModelError
from finetune_advisor.vocabulary import TASKS
from finetune_advisor.vram.architecture import Architecture
from finetune_advisor.vram.shapes import _UNGATED_MLP

# Keys of unsloth/chat_templates.py (reference unsloth-docs.md section 1.6).
UNSLOTH_TEMPLATES = {
    "unsloth", "zephyr", "chatml", "mistral", "llama", "vicuna", "alpaca", "gemma", "gemma_chatml", "gemma2",
    "gemma2_chatml", "llama-3", "llama3", "phi-3", "phi-35", "phi-3.5", "llama-3.1", "llama-31", "llama-3.2",
    "llama-3.3", "llama-32", "llama-33", "qwen-2.5", "qwen-25", "qwen25", "qwen2.5", "phi-4", "gemma-3", "gemma3",
    "gemma-3n", "gemma3n", "gemma-4", "gemma4", "gemma-4-thinking", "qwen-3", "qwen3", "qwen3-instruct",
    "qwen3-thinking", "gpt-oss", "gptoss", "lfm-2", "lfm-2.5", "starling", "yi-chat",
}
# Where the Architecture fields cannot express the parameter count, and why.
PARAM_CHECK_EXEMPT = {
    "gemma-3n-e2b": "per-layer embeddings and audio/vision towers are outside the text config",
    "gemma-4-e2b": "per-layer embeddings and audio/vision towers are outside the text config",
    "gemma-4-e4b": "per-layer embeddings and audio/vision towers are outside the text config",
    "llama-4-maverick-17b-128e": "MoE only in every other layer (interleave step not in Architecture)",
}


@pytest.fixture(autouse=True)
def fresh_catalog() -> None:
    load_catalog.cache_clear()
    yield
    load_catalog.cache_clear()


def count_params_b(a: Architecture) -> float:
    """Parameters of a decoder: embeddings, attention, MLP or experts, a Mamba mixer (norms ignored);
    of an encoder-decoder (Whisper), its encoder and cross-attention too (biases, conv and positions ignored).
    MLPs are gated (three matrices) except in the families whose MLP is two (Apertus: up_proj -> xIELU -> down_proj)."""
    head_dim = a.head_dim or a.hidden_size // a.num_attention_heads
    attention = a.hidden_size * head_dim * (2 * a.num_attention_heads + 2 * a.kv_heads)
    matrices = 2 if a.model_type in _UNGATED_MLP else 3
    if a.is_moe:
        expert = a.moe_intermediate_size or a.intermediate_size
        mlp = a.num_experts * matrices * a.hidden_size * expert + a.hidden_size * a.num_experts
        # Granite 4.0-H gives its shared expert's width (shared_intermediate_size) without a count: one.
        shared = a.num_shared_experts if a.num_shared_experts is not None else int(bool(a.shared_expert_intermediate_size))
        mlp += shared * matrices * a.hidden_size * (a.shared_expert_intermediate_size or expert)
    else:
        mlp = matrices * a.hidden_size * a.intermediate_size
    embeddings = a.vocab_size * a.hidden_size * (1 if a.tie_word_embeddings else 2)
    # A Mamba-2 mixer's in_proj and out_proj (transformers FalconH1Mixer, GraniteMoeHybridMambaLayer): in every
    # layer beside attention (Falcon-H1), or instead of attention in the layers layer_types lists as "mamba"
    # (Granite 4.0-H; its MLP or MoE block is in every layer).
    width = a.mamba_d_ssm or (a.mamba_n_heads or 0) * (a.mamba_d_head or 0)
    mamba = 0
    if width:
        groups_state = 2 * (a.mamba_n_groups or 1) * (a.mamba_d_state or 0)
        mamba = a.hidden_size * (2 * width + groups_state + (a.mamba_n_heads or 0)) + width * a.hidden_size
    encoder = 0  # Whisper: cross-attention in every decoder layer, and encoder layers of attention + two-matrix MLP
    if a.encoder_layers:
        attention += 4 * a.hidden_size * a.hidden_size
        encoder = a.encoder_layers * (4 * a.hidden_size * a.hidden_size + 2 * a.hidden_size * (a.encoder_ffn_dim or 0))
    sequential = list(a.layer_types or ()).count("mamba")
    if sequential:
        mixers = (a.num_hidden_layers - sequential) * attention + sequential * mamba
    else:
        mixers = a.num_hidden_layers * (attention + mamba)
    return (mixers + a.num_hidden_layers * mlp + embeddings + encoder) / 1e9


# --- the packaged data --------------------------------------------------------------------------

def test_packaged_file_validates_through_the_loader() -> None:
    catalog = load_catalog()
    assert isinstance(catalog, Catalog)
    assert load_catalog() is catalog  # cached
    raw = files("finetune_advisor.catalog").joinpath("catalog.json").read_bytes()
    assert Catalog.model_validate_json(raw).models == catalog.models  # no cache copy: the packaged file itself


def test_ids_unique_sorted_and_completions_match() -> None:
    ids = [m.id for m in load_catalog().models]
    assert len(ids) == len(set(ids))
    assert ids == sorted(ids)
    assert model_ids(load_catalog()) == ids


def test_coverage_of_tasks_sizes_and_moe() -> None:
    models = load_catalog().models
    assert len(models) >= 60
    for task in TASKS:
        assert any(task in m.tasks for m in models), task
    sizes = [m.params_total_b for m in models if m.params_total_b]
    assert min(sizes) <= 0.5 and max(sizes) >= 70
    assert any(m.params_active_b for m in models)  # MoE entries


def test_every_entry_has_sources_and_an_original_repo() -> None:
    for m in load_catalog().models:
        assert m.sources and all(s.strip() for s in m.sources), m.id
        assert m.base_id or m.instruct_id, m.id


def test_unverified_values_are_marked() -> None:
    for m in load_catalog().models:
        assert (m.architecture is None) == (m.architecture_status == "unknown"), m.id
        if m.architecture_status == "unverified":
            assert m.is_uncertain("architecture"), m.id


def test_unsloth_ids_sit_in_the_slot_their_suffix_names() -> None:
    for m in load_catalog().models:
        for repo, variant, quant in m.unsloth.slots():
            assert repo.startswith("unsloth/"), repo
            name = repo.lower()
            if quant == "unsloth-bnb-4bit":
                assert name.endswith("-unsloth-bnb-4bit"), repo
            elif quant == "bnb-4bit":
                assert name.endswith("-bnb-4bit") and not name.endswith("-unsloth-bnb-4bit"), repo
            else:
                assert not name.endswith("4bit") and "gguf" not in name, repo


def test_params_agree_with_the_architecture() -> None:
    checked = 0
    for m in load_catalog().models:
        a = m.architecture
        if a is None or m.params_total_b is None or a.intermediate_size is None or m.id in PARAM_CHECK_EXEMPT or m.params_note:
            continue
        computed = count_params_b(a)
        if m.modalities == ["text"]:
            assert computed == pytest.approx(m.params_total_b, rel=0.06), m.id  # MLA attention: within 5%
        else:  # the total includes a vision tower the text config does not describe
            assert 0.85 * m.params_total_b <= computed <= 1.03 * m.params_total_b, m.id
        checked += 1
    assert checked >= 60


def test_chat_templates_are_unsloth_names() -> None:
    for m in load_catalog().models:
        assert m.chat_template is None or m.chat_template in UNSLOTH_TEMPLATES, (m.id, m.chat_template)


def test_license_ids_have_licence_data() -> None:
    known = {lic["id"] for lic in json.loads(files("finetune_advisor.licensing").joinpath("licenses.json").read_text())["licenses"]}
    for m in load_catalog().models:
        assert {m.license_id, *m.upstream_license_ids} - {None} <= known, m.id


@pytest.mark.parametrize(
    ("model_id", "task", "specialised"),
    [
        ("qwen2.5-coder-7b", "code", True),
        ("qwen3-coder-30b-a3b", "code", True),
        ("devstral-small-2507", "code", True),
        ("qwen2.5-vl-7b", "vision", True),
        ("llama-3.2-11b-vision", "vision", True),
        ("gemma-3-4b", "vision", False),
        ("deepseek-r1-distill-llama-8b", "reasoning", True),
        ("magistral-small-2506", "reasoning", True),
        ("phi-4-reasoning", "reasoning", True),
        ("qwen3-8b", "reasoning", False),
        ("gpt-oss-20b", "reasoning", False),
        ("orpheus-3b-0.1", "tts", True),
        ("csm-1b", "tts", True),
        ("whisper-large-v3", "stt", True),
        ("llama-3.1-8b", "chat", False),
    ],
)
def test_tasks_follow_the_family(model_id: str, task: str, specialised: bool) -> None:
    entry = load_catalog().get(model_id)
    assert entry is not None
    assert task in entry.tasks
    assert (task in entry.specialised_for) is specialised


def test_distills_carry_their_upstream_licence() -> None:
    entry = load_catalog().get("deepseek-r1-distill-llama-8b")
    assert entry.license_id == "mit" and entry.upstream_license_ids == ["llama3.1"]
    assert load_catalog().get("qwen2.5-coder-3b").license_id == "qwen-research"  # the one non-commercial Coder


def test_csm_is_sized_from_its_1b_backbone() -> None:
    """Sesame publishes CSM-1B ('Tiny') as a 1B backbone plus a 100M decoder
    (https://sesame.com/research/crossing_the_uncanny_valley_of_voice). The catalog's architecture is that
    backbone, so its count is within 3 % of 1B, and the rest of the checkpoint (text and codebook embeddings,
    the depth decoder, the codec) is explained in params_note and carried as frozen weights."""
    from finetune_advisor.vram.shapes import shapes

    csm = load_catalog().get("csm-1b")
    assert csm.architecture is not None and csm.architecture_status == "corroborated"
    assert shapes(csm.architecture).total_params == pytest.approx(1.0e9, rel=0.03)
    assert csm.architecture.vocab_size == 2051  # the backbone's head predicts one audio codebook, not text
    assert csm.params_note and "depth decoder" in csm.params_note
    # The loaded model holds each parameter once: the depth decoder's input embeddings are tied to the backbone's
    # audio embeddings, so the 1.77B transformers builds before the tie overcounts by 0.134B (Unsloth counted
    # 1,632,100,161 on the GPU machine, round 13).
    assert csm.params_total_b == pytest.approx(1.632, abs=0.001) and "tied" in csm.params_note


def test_spark_tts_is_sized_from_its_qwen_llm() -> None:
    """Spark-TTS trains its LLM/ folder, a Qwen2.5-0.5B whose vocabulary is extended with BiCodec tokens
    (166000 rows): its architecture counts to the 507M a GGUF of that LLM reports
    (https://huggingface.co/Zuellni/Spark-GGUF), so its memory is no longer a params-only figure."""
    from finetune_advisor.vram.shapes import shapes

    spark = load_catalog().get("spark-tts-0.5b")
    assert spark.architecture is not None and spark.architecture.vocab_size == 166000
    assert shapes(spark.architecture).total_params == pytest.approx(0.507e9, rel=0.03)


def test_values_no_source_gives_stay_unknown() -> None:
    outetts = load_catalog().get("outetts-0.3-500m")  # only another checkpoint's config was found: no architecture
    assert outetts.architecture is None and outetts.architecture_status == "unknown"
    starling = load_catalog().get("starling-lm-7b-beta")  # a licence with a condition the licence data cannot carry
    assert starling.license_id is None and starling.is_uncertain("license_id")
    orpheus = load_catalog().get("orpheus-3b-0.1")  # read from a copy of its card: recorded, and marked uncertain
    assert orpheus.license_id == "apache-2.0" and orpheus.is_uncertain("license_id")
    assert orpheus.upstream_license_ids == ["llama3.2"]


def test_the_packaged_catalog_passes_catalog_check() -> None:
    from finetune_advisor.catalog.check import check
    from finetune_advisor.licensing.terms import load_licenses

    assert [str(p) for p in check(load_packaged(), set(load_licenses().ids()))] == []


def test_catalog_json_is_what_the_toml_source_builds() -> None:
    """catalog.json is built from finetune_advisor/catalog/data (finetune-advisor catalog build), never edited by hand."""
    from finetune_advisor.catalog import source

    assert source.render(source.load()) == source.BUILT.read_text(encoding="utf-8")


# --- schema ------------------------------------------------------------------------------------

def _entry(**changes: object) -> dict:
    data = load_catalog().get("qwen3-8b").model_dump(mode="json")
    data.update(changes)
    return data


@pytest.mark.parametrize(
    "changes",
    [
        {"surprise": 1},
        {"tasks": ["translate"]},
        {"aliases": ["Qwen3 8B"]},
        {"uncertain_fields": ["colour"]},
        {"sources": []},
        {"id": "Qwen3-8B"},
        {"architecture": None},  # status says verified
        {"base_id": None, "instruct_id": None},
        {"unsloth": {"instruct": "someone/Qwen3-8B"}},
        {"params_active_b": 9.0},  # more than the total
        {"dynamic_4bit": {"base": {"size_gb": 5.96}}},  # a size without the -bnb-4bit upload's beside it
        {"dynamic_4bit": {"base": {"size_gb": 5.5, "bnb_4bit_size_gb": 5.7}}},  # smaller than the plain upload
        {"dynamic_4bit": {"base": {}}},  # no fact at all
        {"dynamic_4bit": {"chat": {"skip_modules": ["lm_head"]}}},  # no such variant
        {"unsloth_layout": "llama"},  # a converted layout without a source
        {"unsloth_layout": "gpt2", "fact_sources": {"unsloth_layout": ["somewhere"]}},  # not a layout Unsloth converts to
        {"fp8_checkpoints": {"Qwen/Qwen3-8B": "per-tensor"}},  # an FP8 fact without a source
        {"fp8_checkpoints": {"someone/Qwen3-8B-FP8": "block"}, "fact_sources": {"fp8_checkpoints": ["x"]}},  # not its repo
        {"fp8_checkpoints": {"Qwen/Qwen3-8B": "channel"}, "fact_sources": {"fp8_checkpoints": ["x"]}},  # no such layout
    ],
)
def test_schema_rejects_bad_entries(changes: dict) -> None:
    with pytest.raises(ValueError):
        CatalogEntry.model_validate(_entry(**changes))


def test_schema_rejects_duplicate_ids() -> None:
    entry = _entry()
    with pytest.raises(ValueError, match="duplicate model ids"):
        Catalog.model_validate({"models": [entry, entry]})


# --- resolve and closest ----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("ref", "model_id", "repo_id", "variant", "quant"),
    [
        ("qwen3-8b", "qwen3-8b", None, None, None),
        ("QWEN3 8B", "qwen3-8b", None, None, None),
        ("Qwen3-8B", "qwen3-8b", None, None, None),
        ("Qwen/Qwen3-8B-Base", "qwen3-8b", "Qwen/Qwen3-8B-Base", "base", "16bit"),
        ("qwen/qwen3-8b", "qwen3-8b", "Qwen/Qwen3-8B", "instruct", "16bit"),
        ("unsloth/Qwen3-8B-unsloth-bnb-4bit", "qwen3-8b", "unsloth/Qwen3-8B-unsloth-bnb-4bit", "instruct", "unsloth-bnb-4bit"),
        ("unsloth/qwen3-8b-bnb-4bit", "qwen3-8b", "unsloth/Qwen3-8B-bnb-4bit", "instruct", "bnb-4bit"),
        ("unsloth/Qwen3-8B-Base-unsloth-bnb-4bit", "qwen3-8b", "unsloth/Qwen3-8B-Base-unsloth-bnb-4bit", "base", "unsloth-bnb-4bit"),
        ("Llama-3.1-8B-Instruct-bnb-4bit", "llama-3.1-8b", "unsloth/Llama-3.1-8B-Instruct-bnb-4bit", "instruct", "bnb-4bit"),
        ("meta-llama/Llama-3.1-8B", "llama-3.1-8b", "meta-llama/Llama-3.1-8B", "base", "16bit"),
        ("unsloth/Meta-Llama-3.1-70B-bnb-4bit", "llama-3.1-70b", "unsloth/Meta-Llama-3.1-70B-bnb-4bit", "base", "bnb-4bit"),
        ("unsloth/gemma-3-4b-pt", "gemma-3-4b", "unsloth/gemma-3-4b-pt", "base", "16bit"),
        ("llama-3.3-70b-instruct", "llama-3.3-70b", None, None, None),
        ("https://huggingface.co/google/gemma-3-4b-it", "gemma-3-4b", "google/gemma-3-4b-it", "instruct", "16bit"),
        ("deepseek v3 0324", "deepseek-v3", None, None, None),
        ("orpheus-3b", "orpheus-3b-0.1", None, None, None),  # how its users name it; it was "not in the catalog"
        ("unsloth/Qwen3.5-9B", "qwen3.5-9b", "unsloth/Qwen3.5-9B", "instruct", "16bit"),  # Studio's priority list
        # where Unsloth's loader sends a listed upload (naming.LOADER_REDIRECTS): the same entry
        ("unsloth/Pixtral-12B-Base-2409-bnb-4bit", "pixtral-12b-2409", "unsloth/Pixtral-12B-Base-2409-bnb-4bit", "base",
         "bnb-4bit"),
        # and an upload Unsloth's loader sends to a listed repo, unlisted itself
        ("unsloth/Qwen3-30B-A3B-Base-unsloth-bnb-4bit", "qwen3-30b-a3b", "unsloth/Qwen3-30B-A3B-Base-unsloth-bnb-4bit",
         "base", "unsloth-bnb-4bit"),
    ],
)
def test_resolve(ref: str, model_id: str, repo_id: str | None, variant: str | None, quant: str | None) -> None:
    found = resolve(load_catalog(), ref)
    assert (found.entry.id, found.repo_id, found.variant, found.quant) == (model_id, repo_id, variant, quant)
    assert found.note is None


def test_where_unsloths_loader_sends_a_listed_upload_resolves_to_the_same_entry() -> None:
    """naming.LOADER_REDIRECTS: recommend_model names the target, and estimate_vram must find it offline."""
    catalog = load_catalog()
    listed = {repo.lower(): m for m in catalog.models for repo, _, _ in m.unsloth.slots()}
    assert len({k.lower() for k in naming.LOADER_REDIRECTS} & set(listed)) >= 8, "the catalog lists most of them"
    for source, (target, _) in naming.LOADER_REDIRECTS.items():
        owner = listed.get(source.lower()) or listed.get(target.lower())
        if owner:  # either end listed: both resolve to that entry, each with the quantisation it names
            for named in (source, target):
                found = resolve(catalog, named)
                assert found.entry.id == owner.id and found.quant == naming.split_quant(named)[1], named


def test_other_releases_resolve_to_their_entry_without_a_variant() -> None:
    found = resolve(load_catalog(), "unsloth/Qwen3-30B-A3B-Instruct-2507")
    assert found.entry.id == "qwen3-30b-a3b" and found.variant is None and found.quant is None
    assert "another release" in found.note


@pytest.mark.parametrize(
    ("ref", "model_id", "repo_id", "variant", "quant"),
    [  # not listed, but the stem is: the entry, the slot asked for, and the listed id when there is one
        ("unsloth/Qwen3-8B-Instruct", "qwen3-8b", "unsloth/Qwen3-8B", "instruct", "16bit"),
        ("unsloth/Qwen3-8B-Instruct-bnb-4bit", "qwen3-8b", "unsloth/Qwen3-8B-bnb-4bit", "instruct", "bnb-4bit"),
        ("unsloth/Qwen2.5-Coder-7B-Instruct-unsloth-bnb-4bit", "qwen2.5-coder-7b", None, "instruct", "unsloth-bnb-4bit"),
        ("unsloth/Qwen2.5-Coder-7B-unsloth-bnb-4bit", "qwen2.5-coder-7b", None, "base", "unsloth-bnb-4bit"),
        # an Unsloth re-upload under the original's name, not listed: the original's entry and variant
        ("unsloth/Qwen3.5-9B-Base", "qwen3.5-9b", None, "base", "16bit"),
        ("unsloth/granite-4.2-8b", "granite-4.2-8b", None, "instruct", "16bit"),
    ],
)
def test_resolve_derives_unlisted_unsloth_ids(ref: str, model_id: str, repo_id: str | None, variant: str, quant: str) -> None:
    found = resolve(load_catalog(), ref)
    assert (found.entry.id, found.repo_id, found.variant, found.quant) == (model_id, repo_id, variant, quant)
    assert "not a listed repo" in found.note


@pytest.mark.parametrize("ref", ["unsloth/Qwen9-8B-bnb-4bit", "Qwen/Qwen3-8B-bnb-4bit", "someone/qwen3-8b-instruct", "gpt-5"])
def test_unknown_refs_raise_with_suggestions(ref: str) -> None:
    with pytest.raises(UnknownModelError) as info:
        resolve(load_catalog(), ref)
    assert info.value.field == "model" and info.value.ref == ref
    assert f"Unknown 'model' {ref!r}" in str(info.value) and "catalog://models" in str(info.value)
    assert info.value.suggestions == closest(load_catalog(), ref)


def test_empty_ref_is_rejected_without_arbitrary_suggestions() -> None:
    """It offered the first three ids of the alphabet (apertus-70b-2509, ...) as the 'closest'."""
    with pytest.raises(UnknownModelError, match="empty") as info:
        resolve(load_catalog(), "  ")
    assert info.value.suggestions == [] and "Closest" not in str(info.value)


@pytest.mark.parametrize(
    ("ref", "first"),
    [("qwen3-9b", "qwen3.5-9b"), ("lama 3.1 8b", "llama-3.1-8b"), ("gemma3-4b", "gemma-3-4b"),
     ("unsloth/Qwen9-8B-bnb-4bit", "qwen3-8b"), ("whisper-large", "whisper-large-v3")],
)
def test_closest(ref: str, first: str) -> None:
    suggestions = closest(load_catalog(), ref)
    assert suggestions[0] == first
    assert len(suggestions) <= 3 and len(set(suggestions)) == len(suggestions)
    assert set(suggestions) <= set(model_ids(load_catalog()))


def test_closest_finds_nothing_for_nonsense() -> None:
    assert closest(load_catalog(), "zzzz-qqqq-xxxx") == []


# --- the user-cache copy ---------------------------------------------------------------------

def _write_cache(catalog: Catalog) -> Path:
    path = catalog_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(catalog.model_dump_json(), encoding="utf-8")
    return path


def _packaged_digest() -> str:
    return hashlib.sha256(files("finetune_advisor.catalog").joinpath("catalog.json").read_bytes()).hexdigest()


def _newer(packaged: Catalog, models: list) -> Catalog:
    """A copy refreshed from the packaged catalog a minute ago, holding `models` (and the family advice they need)."""
    families = [g for g in packaged.families if g.family in {m.family for m in models}]
    now = datetime.now(timezone.utc) - timedelta(minutes=1)
    assert packaged.generated_at is not None and now > packaged.generated_at
    return packaged.model_copy(update={"generated_at": now, "models": models, "families": families,
                                       "built_from": packaged.content_digest()})


def test_a_valid_newer_cache_copy_is_preferred() -> None:
    packaged = load_packaged()
    digest = _packaged_digest()
    _write_cache(_newer(packaged, packaged.models[:5]))
    assert [m.id for m in load_catalog().models] == [m.id for m in packaged.models[:5]]
    assert _packaged_digest() == digest


def test_a_cache_copy_older_than_the_package_is_ignored() -> None:
    packaged = load_packaged()
    _write_cache(packaged.model_copy(update={"generated_at": datetime(2020, 1, 1, tzinfo=timezone.utc), "models": packaged.models[:5]}))
    assert load_catalog() is packaged


@pytest.mark.parametrize("content", [b"{not json", b'{"models": [{"id": "x"}]}', b"", b'{"schema_version": 2, "models": []}'])
def test_a_corrupted_cache_copy_is_ignored_with_a_warning(content: bytes, caplog: pytest.LogCaptureFixture) -> None:
    path = catalog_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="finetune_advisor.catalog.schema"):
        catalog = load_catalog()
    assert catalog is load_packaged()
    assert any("Ignoring the cached catalog" in r.getMessage() and str(path) in r.getMessage() for r in caplog.records)
    assert path.read_bytes() == content  # left for the user to inspect; never deleted silently


def _replaced(packaged: Catalog, entry: CatalogEntry) -> list[CatalogEntry]:
    return [entry if m.id == entry.id else m for m in packaged.models]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"license_id": "made-up-licence"}, "no licence data for 'made-up-licence'"),
        ({"params_total_b": 80.0}, "params_total_b: 80B, but the architecture adds up to"),
        ({"unsloth": UnslothIds(instruct="unsloth/Qwen3-8B-bnb-4bit")}, "is a bnb-4bit upload by its name"),
        ({"fact_sources": {}}, "a fact without a source"),
    ],
)
def test_a_cache_copy_is_checked_like_the_packaged_catalog(change: dict, problem: str, caplog: pytest.LogCaptureFixture) -> None:
    """Issue 13 (5): a planted catalog.json was served as fact. It passes the schema here, but not `catalog check`."""
    packaged = load_packaged()
    entry = packaged.get("qwen3-8b").model_copy(update=change)
    _write_cache(_newer(packaged, _replaced(packaged, entry)))
    with caplog.at_level(logging.WARNING):
        assert load_catalog() is packaged
    assert "`catalog check` would report" in caplog.text and problem in caplog.text


def test_a_cache_copy_never_changes_a_curated_licence(caplog: pytest.LogCaptureFixture) -> None:
    from finetune_advisor.tools.check_license import check_license

    packaged = load_packaged()
    research = packaged.get("qwen2.5-3b")
    assert research.license_id == "qwen-research" and not research.is_uncertain("license_id")
    planted = research.model_copy(update={"license_id": "apache-2.0",
                                          "fact_sources": {**research.fact_sources, "license_id": ["https://evil.example/"]}})
    _write_cache(_newer(packaged, _replaced(packaged, planted)))
    with caplog.at_level(logging.WARNING):
        served = load_catalog().get("qwen2.5-3b")
    assert load_catalog() is not packaged  # the copy is used, but not for this
    assert served.license_id == "qwen-research" and served.fact_sources["license_id"] == research.fact_sources["license_id"]
    assert "changes the curated licence of qwen2.5-3b" in caplog.text
    assert check_license(model="qwen2.5-3b").verdict == "not_allowed"


def test_answers_built_on_a_cache_copy_say_where_it_came_from(no_gpu: None) -> None:
    from finetune_advisor.tools.check_license import check_license
    from finetune_advisor.tools.estimate_vram import estimate_vram
    from finetune_advisor.tools.recommend_model import recommend_model

    assert catalog_note() is None
    assert not any("catalog refresh" in n for n in check_license(model="qwen3-8b").notes)
    packaged = load_packaged()
    _write_cache(_newer(packaged, list(packaged.models)))
    load_catalog.cache_clear()
    note = catalog_note()
    assert note is not None and str(catalog_path()) in note
    assert note in check_license(model="qwen3-8b").notes
    assert note in estimate_vram(model="qwen3-8b", gpu_memory_gib=24).assumptions
    assert note in recommend_model(task="chat", gpu_memory_gib=24).notes
    assert note not in check_license(license_id="apache-2.0").notes  # no catalog consulted


@pytest.mark.parametrize("kind", ["fifo", "symlink", "directory"])
def test_a_special_file_planted_as_the_cache_copy_is_ignored_at_once(kind: str, tmp_path: Path) -> None:
    path = catalog_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "fifo":
        plant_fifo(path)
    elif kind == "symlink":
        elsewhere = _write_cache(_newer(load_packaged(), load_packaged().models[:5])).rename(tmp_path / "elsewhere.json")
        path.symlink_to(elsewhere)
    else:
        path.mkdir()
    assert within(5, load_catalog, fifo=path if kind == "fifo" else None) is load_packaged()
