"""recommend_model scenarios on the packaged catalog: input -> constraints every answer must meet.

No test pins an exact list of models (the catalog grows); each checks the rules a user relies on:
the task is served, the licence allows the stated use, the model fits with the stated margin,
the id to load matches the method and the variant, and the ranking preferences hold.
"""

from __future__ import annotations

from typing import Any

import pytest

from finetune_advisor.adapters.cache import load_catalog
from finetune_advisor.catalog import naming
from finetune_advisor.catalog.schema import CatalogEntry
from finetune_advisor.errors import InvalidInputError
from finetune_advisor.licensing.terms import load_licenses
from finetune_advisor.recommend import ranking
from finetune_advisor.vram import fit
from finetune_advisor.vram.constants import DRIVER_RESERVED_GIB
from finetune_advisor.adapters import nvml
from finetune_advisor.tools.check_license import check_license
from finetune_advisor.tools.estimate_vram import estimate_vram
from finetune_advisor.tools.recommend_model import RecommendResult, recommend_model

TASKS = ("chat", "code", "vision", "reasoning", "tts", "stt")
LLAMA = {"llama3.1", "llama3.2", "llama3.3", "llama4"}


def entry(model_id: str) -> CatalogEntry:
    found = load_catalog().get(model_id)
    assert found is not None, model_id
    return found


def licences(e: CatalogEntry) -> set[str | None]:
    return {e.license_id, *e.upstream_license_ids}


def run(**kw: Any) -> RecommendResult:
    """recommend_model, then the hard rules checked on whatever it returned."""
    result = recommend_model(**kw)
    memory = result.gpu_memory_gib
    assert len(result.recommendations) <= kw.get("top_k", 3)
    loads = [(r.repo_id, r.unsloth_model_id, r.method) for r in result.recommendations]
    assert len(set(loads)) == len(loads), loads  # two picks that load the same checkpoint are one pick
    for r in result.recommendations:
        e = entry(r.model_id)
        assert kw["task"] in e.tasks, r.model_id
        if memory is None:
            assert r.fits is None
        else:
            assert r.fits is True and r.estimated_vram_gib is not None and r.headroom_gib is not None
            assert r.estimated_vram_gib + DRIVER_RESERVED_GIB <= memory + 0.05, r
        assert r.license_verdict != "not_allowed"
        plans = {k: kw[k] for k in ("commercial_use", "eu_entity") if k in kw}
        verdict = check_license(model=r.model_id, monthly_active_users=kw.get("monthly_active_users") or 0, **plans).verdict
        assert verdict == r.license_verdict != "not_allowed", r.model_id
        if kw.get("allowed_licenses"):
            assert licences(e) <= {load_licenses().find(name).id for name in kw["allowed_licenses"]}, r.model_id
        if kw.get("max_params_b"):
            assert e.params_total_b is not None and e.params_total_b <= kw["max_params_b"]
        if e.context_length and "text" in e.modalities:  # a speech model's context counts a 30 s window's tokens
            assert kw.get("seq_len", 2048) <= e.context_length
        _check_ids(e, r)
    return result


def _check_ids(e: CatalogEntry, r: Any) -> None:
    """The id to load is an upload of this entry, in the recommended variant, quantised per the method."""
    slots = {repo: (variant, quant) for repo, variant, quant in e.unsloth.slots()}
    original = e.base_id if r.variant == "base" else e.instruct_id
    assert r.repo_id == original and original, r
    if r.unsloth_model_id is None:
        assert any(original in c for c in r.caveats)
        return
    if r.method == "qlora":  # the upload QLoRA prefers, as Unsloth's loader takes it (naming.LOADER_REDIRECTS)
        best = next(filter(None, (e.unsloth.get(r.variant, q) for q in ("unsloth-bnb-4bit", "bnb-4bit", "16bit"))))
        assert r.unsloth_model_id == naming.loaded_by_unsloth(best)
        if r.unsloth_model_id != best:
            assert naming.redirect_note(best) in r.caveats
            return
    variant, quant = slots[r.unsloth_model_id]
    assert variant == r.variant
    if r.method == "qlora":
        if quant == "16bit":
            assert any("load_in_4bit" in c for c in r.caveats)
    else:
        assert quant == "16bit" and not r.unsloth_model_id.endswith("bnb-4bit")


# --- GPU size ---------------------------------------------------------------------------------


def test_small_gpu_gets_small_models_that_fit() -> None:
    result = run(task="chat", gpu_memory_gib=8, top_k=10)
    assert len(result.recommendations) >= 3
    assert all(r.estimated_vram_gib <= 7.0 for r in result.recommendations)
    assert result.excluded.get("memory", 0) > 0
    assert result.gpu_source == "argument" and fit.RULE in result.notes


def test_large_gpu_gets_larger_models_than_a_small_one() -> None:
    small = run(task="chat", gpu_memory_gib=8)
    large = run(task="chat", gpu_memory_gib=80)
    biggest_small = max(r.params_b or 0 for r in small.recommendations)
    assert (large.recommendations[0].params_b or 0) > biggest_small
    assert max(r.params_b or 0 for r in large.recommendations) >= 20


@pytest.mark.parametrize("task", TASKS)
def test_every_task_is_served_by_a_matching_model(task: str) -> None:
    result = run(task=task, gpu_memory_gib=24, commercial_use=False)
    assert result.recommendations, result.what_would_qualify
    modalities = {m for r in result.recommendations for m in entry(r.model_id).modalities}
    if task == "vision":
        assert all("image" in entry(r.model_id).modalities for r in result.recommendations)
    if task in ("tts", "stt"):
        assert modalities - {"text", "text-out"}, "speech tasks need an audio model"
    if task in ("code", "stt", "tts"):
        assert task in entry(result.recommendations[0].model_id).specialised_for


@pytest.mark.parametrize("rows", [None, 3000])
def test_specialised_family_comes_first_for_code(rows: int | None) -> None:
    # With 3,000 rows (a base model's share) the first pick was Mistral Small 3.1's base: Devstral had named it as its
    # own base, and the shared checkpoint was listed once, as the generic model. A pick loads its own checkpoint.
    result = run(task="code", gpu_memory_gib=24, dataset_rows=rows, top_k=5)
    first = result.recommendations[0]
    top = entry(first.model_id)
    assert "code" in top.specialised_for
    assert any("Specialised for code" in reason for reason in first.reasons)
    assert first.repo_id in (top.base_id, top.instruct_id)


def test_for_images_the_latest_vision_capable_model_leads_not_the_oldest_specialist() -> None:
    """Unsloth's guide asks for "a vision model" for image data, which every candidate is, then for the latest model.
    A T4 with 2,000 rows ranked Pixtral 12B (2024) first and Gemma 4 12B (2026, takes images, fits) tenth, because a
    vision-language family's bonus outweighed any recency; it now breaks ties only."""
    picks = run(task="vision", gpu="T4", dataset_rows=2000, top_k=5).recommendations
    dates = {p.model_id: entry(p.model_id).release_date for p in picks}
    assert "gemma-4-12b" in [p.model_id for p in picks[:3]]
    assert dates[picks[0].model_id] is not None and dates[picks[0].model_id].year >= 2025
    specialist = next(p for p in picks if "vision" in entry(p.model_id).specialised_for)
    assert any("Specialised for vision" in reason and "built for images" in reason for reason in specialist.reasons)


def test_the_newer_qwen_vl_72b_is_not_ranked_below_the_older_one_for_vision() -> None:
    """Qwen2.5-VL-72B's architecture, checked against Qwen's own AWQ config, no longer counts as unverified,
    so the newer release ranks above Qwen2-VL-72B (same size, same licence) on one 80 GiB GPU."""
    picks = [r.model_id for r in run(task="vision", gpu_memory_gib=80, top_k=10).recommendations]
    assert entry("qwen2.5-vl-72b").architecture_status != "unverified"
    assert "qwen2.5-vl-72b" in picks and "qwen2-vl-72b" in picks
    assert picks.index("qwen2.5-vl-72b") < picks.index("qwen2-vl-72b")


def test_recent_models_lead_general_chat() -> None:
    result = run(task="chat", gpu_memory_gib=24)
    released = [entry(r.model_id).release_date for r in result.recommendations]
    assert released[0] is not None and released[0].year >= 2025


def test_a_post_train_without_a_base_of_its_own_is_offered_as_itself_and_its_base_once() -> None:
    # Granite 4.2 publishes no base models: it is post-trained from Granite 4.1's, which the catalog gives to 4.1 alone
    # (catalog check: a later model names no earlier model's base). With enough rows for a base model, 24 GiB used to
    # list Granite 4.2 30B and 4.1 30B as two picks of one repo, then one, ranked by 4.2's release date.
    assert entry("granite-4.2-30b").base_id is None and entry("granite-4.1-30b").base_id
    result = run(task="chat", gpu_memory_gib=24, dataset_rows=2000, top_k=10)
    granite = {r.model_id: r for r in result.recommendations if r.family.startswith("granite-4.")}
    assert [r.model_id for r in result.recommendations if r.repo_id == entry("granite-4.1-30b").base_id] == ["granite-4.1-30b"]
    later = granite["granite-4.2-30b"]
    assert later.variant == "instruct" and later.repo_id == "ibm-granite/granite-4.2-30b"
    assert any(c.startswith("No base checkpoint is published for Granite 4.2 30B") for c in later.caveats)


def test_alternatives_come_from_different_families() -> None:
    result = run(task="chat", gpu_memory_gib=24)
    families = [r.family for r in result.recommendations]
    assert len(set(families)) == len(families) == 3


# --- licence traps ----------------------------------------------------------------------------


def test_commercial_use_excludes_the_qwen_research_licence() -> None:
    commercial = run(task="chat", gpu_memory_gib=24, max_params_b=3.5, top_k=10)
    assert "qwen2.5-3b" not in {r.model_id for r in commercial.recommendations}
    assert all(r.license_id != "qwen-research" for r in commercial.recommendations)
    assert commercial.excluded.get("license", 0) >= 1
    research = run(task="chat", gpu_memory_gib=24, commercial_use=False, allowed_licenses=["qwen-research"], top_k=10)
    assert "qwen2.5-3b" in {r.model_id for r in research.recommendations}


def test_models_left_out_by_licence_are_counted_with_the_plans_they_were_judged_for() -> None:
    assumed = run(task="chat", gpu_memory_gib=24)
    left_out = assumed.excluded["license"]
    note = next(n for n in assumed.notes if "left out because their licence" in n)
    assert note.startswith(f"{left_out} chat model(s)") and "commercial use (the default)" in note
    billion = run(task="chat", gpu_memory_gib=24, monthly_active_users=1_000_000_000, eu_entity=True)
    note = next(n for n in billion.notes if "left out because their licence" in n)
    assert billion.excluded["license"] > left_out and "1,000,000,000 monthly active users" in note and "EU" in note
    research = run(task="chat", gpu_memory_gib=24, commercial_use=False)
    assert "license" not in research.excluded
    assert not any("left out because their licence" in n for n in research.notes)


def test_research_only_models_with_commercial_use_say_what_would_qualify() -> None:
    result = run(task="chat", gpu_memory_gib=24, allowed_licenses=["qwen-research"])
    assert result.recommendations == []
    assert any("Non-commercial use" in line and "Qwen2.5-3B" in line for line in result.what_would_qualify)


def test_eu_entity_excludes_multimodal_llama() -> None:
    result = run(task="vision", gpu_memory_gib=80, eu_entity=True, top_k=10)
    assert not {r.license_id for r in result.recommendations} & {"llama3.2", "llama4"}
    only_llama = run(task="vision", gpu_memory_gib=80, eu_entity=True, allowed_licenses=["llama3.2", "llama4"])
    assert only_llama.recommendations == []
    assert any("outside the EU" in line for line in only_llama.what_would_qualify)
    outside_eu = run(task="vision", gpu_memory_gib=80, allowed_licenses=["llama3.2", "llama4"])
    assert outside_eu.recommendations and {r.license_id for r in outside_eu.recommendations} <= {"llama3.2", "llama4"}


def test_eu_entity_keeps_text_only_llama_3_2() -> None:
    result = run(task="chat", gpu_memory_gib=24, eu_entity=True, allowed_licenses=["llama3.2"], top_k=5)
    assert {r.model_id for r in result.recommendations} & {"llama-3.2-1b", "llama-3.2-3b"}


def test_a_billion_users_excludes_qwen_licences_and_leaves_llamas_unsettled() -> None:
    """The Qwen licence counts users at any time: above 100M its models are out. Llama's licences count the month
    before the version's release, which the request does not give: their models stay, ranked as licence unknown,
    with the reason."""
    result = run(task="chat", gpu_memory_gib=80, monthly_active_users=1_000_000_000, top_k=10)
    for r in result.recommendations:
        assert "qwen" not in licences(entry(r.model_id)), r.model_id
    capped = run(task="chat", gpu_memory_gib=80, monthly_active_users=1_000_000_000, allowed_licenses=[*LLAMA, "qwen"])
    assert capped.recommendations
    for r in capped.recommendations:
        assert licences(entry(r.model_id)) & LLAMA and "qwen" not in licences(entry(r.model_id)), r.model_id
        assert r.license_verdict == "unknown"
        assert any("month before the version's release" in c for c in r.caveats), r.caveats


def test_permissive_only_includes_inherited_licences() -> None:
    result = run(task="reasoning", gpu_memory_gib=80, allowed_licenses=["apache-2.0", "mit"], top_k=10)
    assert result.recommendations
    assert "deepseek-r1-distill-llama-8b" not in {r.model_id for r in result.recommendations}
    assert result.excluded.get("allowed_licenses", 0) >= 1


def test_licence_conditions_are_spelled_out() -> None:
    result = run(task="chat", gpu_memory_gib=24, allowed_licenses=["llama3.1"], top_k=1)
    r = result.recommendations[0]
    assert r.license_verdict == "allowed_with_conditions"
    assert any("Llama" in c for c in r.caveats)


def test_a_licence_the_catalog_read_second_hand_is_flagged_on_the_pick() -> None:
    """Each pick whose licence the catalog holds only from a copy of its card (license_id in uncertain_fields) says
    so; one read first-hand does not."""
    result = run(task="tts", gpu_memory_gib=12, top_k=3)
    for r in result.recommendations:
        flagged = any("not read from the model's own page" in c for c in r.caveats)
        assert flagged == (entry(r.model_id).is_uncertain("license_id") and r.license_verdict != "unknown"), r.model_id
    assert any(r.model_id == "orpheus-3b-0.1" for r in result.recommendations)


# --- method and the id to load ------------------------------------------------------------------


def test_qlora_names_4bit_uploads_and_lora_16bit_ones() -> None:
    qlora = run(task="chat", gpu_memory_gib=48, method="qlora", top_k=10)
    lora = run(task="chat", gpu_memory_gib=48, method="lora", top_k=10)
    assert all(r.method == "qlora" for r in qlora.recommendations)
    assert sum(r.unsloth_model_id.endswith("-unsloth-bnb-4bit") for r in qlora.recommendations if r.unsloth_model_id) >= 3
    assert all(r.method == "lora" for r in lora.recommendations)
    assert all(not (r.unsloth_model_id or "").endswith("4bit") for r in lora.recommendations)


def test_auto_method_follows_studio_rule() -> None:
    roomy = run(task="chat", gpu_memory_gib=80, max_params_b=4)
    assert all(r.method == "lora" for r in roomy.recommendations)
    tight = run(task="chat", gpu_memory_gib=8, max_params_b=9, top_k=5)
    big = [r for r in tight.recommendations if (r.params_b or 0) >= 3]
    assert big and all(r.method == "qlora" for r in big)
    assert any("Unsloth Studio's rule" in n for n in tight.notes)


def test_full_fine_tuning_only_when_it_fits() -> None:
    result = run(task="chat", gpu_memory_gib=24, method="full", top_k=10)
    assert result.recommendations
    assert all(r.method == "full" and (r.params_b or 0) < 6 for r in result.recommendations)


@pytest.mark.parametrize(("task", "memory", "method"), [("chat", 24, "auto"), ("vision", 80, "auto"), ("code", 48, "lora")])
def test_memory_figures_are_estimate_vrams_for_the_named_checkpoint(task: str, memory: float, method: str) -> None:
    result = run(task=task, gpu_memory_gib=memory, method=method, seq_len=4096)
    for r in result.recommendations:
        check = estimate_vram(model=r.unsloth_model_id or r.repo_id, method=r.method, seq_len=4096, gpu_memory_gib=memory,
                              bf16=True, images_per_row=int(task == "vision"),  # vision: one image a row, as the note says
                              router_aux_loss=r.router_aux_loss)
        assert r.estimated_vram_gib == pytest.approx(check.total_gib, abs=0.06), r.model_id
        assert check.fits
    said = next(n for n in result.notes if "seq_len 4096" in n and "estimate_vram" in n)
    assert ("one image a row" in said) == (task == "vision")


# --- unknown and detected GPU -------------------------------------------------------------------


def test_unknown_gpu_still_recommends_with_fits_null(no_gpu: None) -> None:
    result = run(task="code")
    assert result.recommendations
    assert result.gpu_source == "unknown" and result.gpu_memory_gib is None and "fit not checked" in result.gpu
    assert all(r.fits is None and r.method == "qlora" for r in result.recommendations)
    assert any("fits is null" in n for n in result.notes)


def test_detected_gpu_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nvml, "local_gpu", lambda: nvml.LocalGpu(23.6, "NVIDIA GeForce RTX 4090 (GPU 0, 23.6 GiB, detected)", True))
    result = run(task="chat")
    assert result.gpu_source == "detected" and result.gpu_memory_gib == 23.6 and "4090" in result.gpu
    assert all(r.fits for r in result.recommendations)


# --- other constraints --------------------------------------------------------------------------


@pytest.mark.parametrize("cap", [1, 4, 9])
def test_max_params_b_is_a_ceiling(cap: float) -> None:
    result = run(task="chat", gpu_memory_gib=80, max_params_b=cap, top_k=10)
    assert result.recommendations and all((r.params_b or 99) <= cap for r in result.recommendations)


def test_languages_are_reported_on_every_recommendation() -> None:
    result = run(task="chat", gpu_memory_gib=24, languages=["German", "klingon"])
    for r in result.recommendations:
        assert any("de" in line for line in [*r.reasons, *r.caveats]), r
    assert any("klingon" in n for n in result.notes)


def test_use_case_hints_are_acknowledged() -> None:
    result = run(task="chat", gpu_memory_gib=24, use_case="A French support agent with function calling")
    assert any("fr" in n and "function calling" in n for n in result.notes)
    for r in result.recommendations:
        assert any("function calling" in line for line in [*r.reasons, *r.caveats])


def test_long_sequences_respect_context_length() -> None:
    result = run(task="chat", gpu_memory_gib=80, seq_len=65536, top_k=10)
    assert result.recommendations
    assert all((entry(r.model_id).context_length or 65536) >= 65536 for r in result.recommendations)


@pytest.mark.parametrize(("rows", "choice"), [(100, "instruct"), (500, "instruct"), (5000, "base")])
def test_dataset_size_picks_base_or_instruct(rows: int, choice: str) -> None:
    result = run(task="chat", gpu_memory_gib=24, dataset_rows=rows, top_k=10)
    assert result.base_vs_instruct.choice == choice
    assert result.base_vs_instruct.try_both is (rows == 500)
    for r in result.recommendations:
        if r.variant != choice:  # only when the catalog has no such checkpoint for that model
            assert not ranking.has_variant(entry(r.model_id), choice)
            assert any(f"No {choice} checkpoint" in c for c in r.caveats)
    if rows == 5000:
        assert any(r.variant == "base" for r in result.recommendations)
    if rows == 500:  # the advice to try the base model too, said once (base_vs_instruct.reason), not again in a note
        assert "base model as well" in result.base_vs_instruct.reason
        assert not any("base" in n and "instruct" in n for n in result.notes)


def test_unknown_dataset_size_means_instruct_with_the_reason() -> None:
    result = run(task="chat", gpu_memory_gib=24)
    assert result.base_vs_instruct.choice == "instruct" and "not given" in result.base_vs_instruct.reason


# --- nothing qualifies ------------------------------------------------------------------------


def test_nothing_fits_says_how_much_memory_would() -> None:
    result = run(task="tts", gpu_memory_gib=1)
    assert result.recommendations == []
    gpu_line = next(line for line in result.what_would_qualify if line.startswith("A GPU with at least"))
    needed = float(gpu_line.split("at least ")[1].split(" GiB")[0])
    assert needed > 1
    bigger = run(task="tts", gpu_memory_gib=needed + 0.1)
    assert bigger.recommendations
    assert any("what_would_qualify" in n for n in result.notes)


def test_a_shorter_seq_len_is_offered_when_it_would_fit() -> None:
    result = run(task="code", gpu_memory_gib=3, seq_len=8192, top_k=10)
    line = next(line for line in result.what_would_qualify if line.startswith("seq_len "))
    shorter = int(line.split()[1])
    assert shorter < 8192
    assert len(run(task="code", gpu_memory_gib=3, seq_len=shorter, top_k=10).recommendations) > len(result.recommendations)


def test_a_lora_request_that_does_not_fit_points_to_qlora() -> None:
    result = run(task="code", gpu_memory_gib=2.6, method="lora", seq_len=2048)
    line = next(line for line in result.what_would_qualify if line.startswith("method qlora"))
    named = line.split("would fit ")[1].split(" in 2.6 GiB")[0].split(", ")[0]
    assert named not in {r.name for r in result.recommendations}
    assert named in {r.name for r in run(task="code", gpu_memory_gib=2.6, method="qlora", seq_len=2048, top_k=10).recommendations}


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "field"),
    [({"task": "poetry"}, "task"), ({"task": "chat", "gpu_memory_gib": -8}, "gpu_memory_gib"),
     ({"task": "chat", "method": "dora"}, "method"), ({"task": "chat", "top_k": 0}, "top_k"),
     ({"task": "chat", "allowed_licenses": ["apache-2.0", "apache 3"]}, "allowed_licenses")],
)
def test_direct_callers_get_errors_naming_the_field(kw: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        recommend_model(**kw)
    assert err.value.field == field and "Accepted:" in str(err.value)
    if field == "task":
        assert all(t in str(err.value) for t in TASKS)
    if field == "allowed_licenses":
        assert "'apache 3'" in str(err.value) and "qwen-research" in str(err.value)


def test_licence_aliases_are_accepted() -> None:
    by_alias = run(task="chat", gpu_memory_gib=24, allowed_licenses=["Apache2", "MIT"], top_k=5)
    by_id = run(task="chat", gpu_memory_gib=24, allowed_licenses=["apache-2.0", "mit"], top_k=5)
    assert by_alias == by_id and by_alias.recommendations


# --- through MCP ------------------------------------------------------------------------------


async def _call(arguments: dict[str, Any]) -> Any:
    from mcp import Client

    from finetune_advisor.server.app import build_server

    async with Client(build_server(), raise_exceptions=True) as client:
        return await client.call_tool("recommend_model", arguments)


@pytest.mark.anyio
async def test_mcp_result_is_structured() -> None:
    result = await _call({"task": "code", "dataset_rows": 500, "gpu_memory_gib": 24})
    assert not result.is_error
    data = result.structured_content
    assert data["task"] == "code" and data["gpu_source"] == "argument" and data["gpu_memory_gib"] == 24
    assert data["base_vs_instruct"]["choice"] == "instruct" and data["base_vs_instruct"]["try_both"] is True
    first = data["recommendations"][0]
    assert {"model_id", "unsloth_model_id", "method", "variant", "estimated_vram_gib", "fits", "license_verdict",
            "chat_template", "reasons", "caveats"} <= set(first)


@pytest.mark.anyio
async def test_mcp_unknown_task_lists_the_accepted_ones() -> None:
    result = await _call({"task": "poetry"})
    assert result.is_error
    text = result.content[0].text
    assert "task" in text and all(t in text for t in TASKS)


@pytest.mark.anyio
async def test_mcp_negative_memory_names_gpu_memory_gib() -> None:
    result = await _call({"task": "chat", "gpu_memory_gib": -4})
    assert result.is_error and "gpu_memory_gib" in result.content[0].text


@pytest.mark.anyio
async def test_mcp_top_k_out_of_range_is_refused() -> None:
    result = await _call({"task": "chat", "top_k": 50})
    assert result.is_error and "top_k" in result.content[0].text


def test_a_detected_gpu_without_bf16_sizes_for_fp16_and_float32_families(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a T4 (no bf16) Unsloth loads Gemma 3/3n/4 and others in float32: the estimates must grow, but Gemma 3n's,
    measured holding its bf16 step there (round 57), which the note names."""
    from fake_nvml import T4, FakeGpu, FakeNvml

    from finetune_advisor.adapters import nvml as gpu

    ampere_16gb = FakeGpu("NVIDIA A16-like", T4.total_gib, T4.free_gib, (8, 6), "GPU-dddd")
    results = {}
    for card in (T4, ampere_16gb):
        monkeypatch.setattr(gpu, "_load_nvml", lambda card=card: FakeNvml([card]))
        nvml._cached.cache_clear()
        results[card.name] = run(task="chat", top_k=10, method="qlora", allowed_licenses=["gemma"])
    nvml._cached.cache_clear()
    t4, ampere = results[T4.name], results[ampere_16gb.name]
    assert any("no bf16" in n for n in t4.notes) and not any("no bf16" in n for n in ampere.notes)
    assert any("holding their bf16 step: gemma3n" in n for n in t4.notes)
    sizes = {name: {r.model_id: r.estimated_vram_gib for r in res.recommendations} for name, res in results.items()}
    gemma = [m for m in sizes[T4.name] if m.startswith("gemma-3-") and m in sizes[ampere_16gb.name]]
    assert gemma
    for model_id in gemma:
        assert sizes[T4.name][model_id] > sizes[ampere_16gb.name][model_id]
    assert all(r.fits for r in t4.recommendations)  # still only what fits the T4 in fp16/float32


def test_a_pick_names_unsloths_template_for_its_variant_and_the_transformers_it_needs() -> None:
    # codegemma's family guidance: base checkpoints trained with chatml in Unsloth's notebook; loader needs 4.38
    from finetune_advisor.recommend.facts import FactFinder

    catalog = load_catalog()
    entry = catalog.get("codegemma-7b")
    facts = FactFinder(catalog).facts(entry, ("qlora",), 2048)
    assert facts.chat_templates.get("base") == "chatml" and facts.min_transformers == "4.38"
    picks = run(task="code", gpu_memory_gib=80, dataset_rows=5000, top_k=10).recommendations
    assert all(p.min_transformers is None or p.min_transformers[0].isdigit() for p in picks)


@pytest.mark.parametrize("memory", [8, 16, 24, 48, 80])
@pytest.mark.parametrize("task", TASKS)
def test_no_first_pick_rests_on_a_params_only_estimate(task: str, memory: int) -> None:
    """A figure from the parameter count alone is no base for a first pick (issue 12 item 4): Whisper, the
    speech-to-text first pick, is sized as the encoder-decoder it is, CSM from its backbone."""
    from finetune_advisor.recommend.facts import COARSE_CAVEAT

    picks = run(task=task, gpu_memory_gib=memory, top_k=3).recommendations
    if not picks:
        return
    first = picks[0]
    assert not any(c.startswith(COARSE_CAVEAT) for c in first.caveats), first.model_id


def test_a_pick_says_when_its_memory_figure_rests_on_few_or_none_of_our_unsloth_runs(monkeypatch) -> None:
    """Issue 11 item 7: a pick whose family we measured on Unsloth in fewer than three runs, or never, or a MoE family
    with fewer than three runs of the pick's method, says so (and what it carries over); a pick of a well-measured
    family does not repeat it. Since round 51 every family these picks come from is well measured, so one pick's
    family is then taken out of the measured ones, as a family of a future catalog entry would be."""
    from finetune_advisor.catalog.resolve import resolve
    from finetune_advisor.recommend import facts
    from finetune_advisor.vram import constants as k
    from finetune_advisor.vram.ground import ground_said
    from finetune_advisor.vram.resolve import from_catalog

    catalog, seen = load_catalog(), set()

    def check(picks) -> None:
        for r in picks:
            resolved = from_catalog(resolve(catalog, r.model_id), catalog.guidance(entry(r.model_id).family))
            if resolved.coarse:
                continue
            said = any("measured on Unsloth" in c for c in r.caveats)
            assert said == ground_said(resolved.arch, r.method), (r.model_id, resolved.arch.model_type, r.method, r.caveats)
            seen.add(said)

    for task in ("chat", "code", "vision", "reasoning"):
        for gib in (16, 24, 80):
            check(run(task=task, gpu_memory_gib=gib, top_k=5).recommendations)
    first = run(task="chat", gpu_memory_gib=24, top_k=1).recommendations[0]
    family = from_catalog(resolve(catalog, first.model_id), catalog.guidance(entry(first.model_id).family)).arch.model_type
    monkeypatch.delitem(k.UNSLOTH_MEASURED_METHODS, family)
    facts._estimate_cached.cache_clear()
    try:
        check(run(task="chat", gpu_memory_gib=24, top_k=5).recommendations)
    finally:
        facts._estimate_cached.cache_clear()
    assert seen == {True, False}


def test_a_pick_says_when_its_step_is_longer_than_any_we_measured_for_its_family() -> None:
    """At 32,768 tokens some families' picks run longer steps than any of our Unsloth runs of that family and kind
    (Gemma 4 26B-A4B's were at most 16,384, where its peak grew faster than linear): those picks say so and take
    the wider margin; picks measured that long do not."""
    from finetune_advisor.catalog.resolve import resolve
    from finetune_advisor.vram.ground import longest_measured
    from finetune_advisor.vram.resolve import from_catalog
    from finetune_advisor.vram.run import RunConfig

    catalog, seen = load_catalog(), set()
    for task in ("chat", "code", "vision", "reasoning"):
        for r in run(task=task, gpu_memory_gib=141, seq_len=32768, top_k=8).recommendations:
            resolved = from_catalog(resolve(catalog, r.model_id), catalog.guidance(entry(r.model_id).family))
            if resolved.coarse:
                continue
            beyond = longest_measured(resolved.arch, RunConfig(method=r.method, seq_len=32768, stack="unsloth"))
            said = any("the longest step of this family" in c for c in r.caveats)
            assert said == (beyond is not None), (r.model_id, r.method, r.caveats)
            seen.add(said)
    assert seen == {True, False}


def test_a_moe_that_fits_a_card_only_without_the_routers_trials_is_offered_with_that_setting() -> None:
    """ERNIE 4.5 21B-A3B QLoRA on a 19.5 GiB card: the first step's trials put it over; with
    SFTConfig(router_aux_loss_coef=0.0) it fits, and the pick says so, with estimate_vram's figure for that run. Asked
    for Chinese, which ERNIE 4.5 names: since round 79 the embedding rule lets more models of other languages fit
    19.5 GiB, and they rank above it."""
    from finetune_advisor.tools.estimate_vram import estimate_vram

    result = run(task="chat", gpu_memory_gib=19.5, dataset_rows=800, top_k=10, use_case="moe", languages=["zh"])
    pick = next(r for r in result.recommendations if r.model_id == "ernie-4.5-21b-a3b")
    assert pick.fits and not pick.router_aux_loss and any("router_aux_loss_coef=0.0" in c for c in pick.caveats)
    named = pick.unsloth_model_id or pick.repo_id  # no Unsloth upload of ERNIE 4.5 21B-A3B is listed
    on = estimate_vram(model=named, method=pick.method, gpu_memory_gib=19.5)
    off = estimate_vram(model=named, method=pick.method, gpu_memory_gib=19.5, router_aux_loss=False)
    assert not on.fits and off.fits and pick.estimated_vram_gib == pytest.approx(off.total_gib, abs=0.06)
    others = [r for r in result.recommendations if r is not pick]
    assert all(r.router_aux_loss for r in others) and not any("router_aux_loss_coef" in c for r in others for c in r.caveats)


def test_a_moe_whose_config_turns_the_aux_loss_off_is_sized_without_the_trials() -> None:
    """Qwen3-Coder-30B-A3B's config sets router_aux_loss_coef to 0.0, so trl turns no aux loss on: its QLoRA pick on an
    RTX 5090 fits as it is loaded, with no advice to turn anything off (it had been sized with the trials, 31.5 GiB)."""
    result = run(task="code", gpu="RTX 5090", dataset_rows=800, top_k=10)
    pick = next(r for r in result.recommendations if r.model_id == "qwen3-coder-30b-a3b")
    assert pick.fits and pick.router_aux_loss and pick.estimated_vram_gib < 26
    assert not any("router_aux_loss_coef=0.0" in c for c in pick.caveats)

def test_qlora_names_the_repo_unsloths_loader_takes_with_its_reason() -> None:
    """Unsloth's loader redirects some 4-bit uploads (Qwen3-30B-A3B's to its 16-bit repo, OpenThinker 7B's to the
    original): a pick names the repo it loads, says why, and is sized as estimate_vram sizes that repo."""
    repo, original, caveat = ranking.load_ids(load_catalog().get("qwen3-30b-a3b"), "instruct", "qlora")
    assert (repo, original) == ("unsloth/Qwen3-30B-A3B", "Qwen/Qwen3-30B-A3B")
    assert caveat and "BAD_MAPPINGS" in caveat and "quantises it on load" in caveat
    result = run(task="reasoning", gpu_memory_gib=16, method="qlora", max_params_b=8)
    pick = next(r for r in result.recommendations if r.model_id == "openthinker-7b")
    assert pick.unsloth_model_id == "open-thoughts/OpenThinker-7B"
    assert any("unsloth/OpenThinker-7B-unsloth-bnb-4bit" in c and "BAD_MAPPINGS" in c for c in pick.caveats)
    sized = estimate_vram(model=pick.unsloth_model_id, method="qlora", gpu_memory_gib=16)
    assert pick.estimated_vram_gib == pytest.approx(sized.needs_gib, abs=0.06)


def test_a_qlora_pick_of_a_bf16_named_original_says_how_to_get_qlora() -> None:
    """Nemotron 3 Nano 30B-A3B's base has no Unsloth upload and its original ends in -BF16, which Unsloth loads in
    16 bits with load_in_4bit alone: the caveat gives the quantization_config that trains the QLoRA sized."""
    repo, original, caveat = ranking.load_ids(load_catalog().get("nemotron-3-nano-30b-a3b"), "base", "qlora")
    assert repo is None and original == "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-Base-BF16"
    assert caveat and "in 16 bits even with load_in_4bit=True" in caveat and "quantization_config=" in caveat
    assert "-bf16" not in (ranking.load_ids(load_catalog().get("nemotron-3-nano-30b-a3b"), "base", "lora")[2] or "")
