"""The pure ranking rules: hand-computed tables for the thresholds, relations for the ordering."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from finetune_advisor.catalog.schema import CatalogEntry, UnslothIds
from finetune_advisor.recommend import ranking
from finetune_advisor.vram import fit
from finetune_advisor.recommend.ranking import Candidate, Facts, Failure, Request
from finetune_advisor.recommend.use_case import (
    UseCaseHints,
    normalise_languages,
    parse_use_case,
)

NEWEST = date(2026, 4, 1)


def entry(**over: Any) -> CatalogEntry:
    values: dict[str, Any] = {
        "id": "m-8b",
        "name": "M-8B",
        "family": "m",
        "tasks": ["chat"],
        "base_id": "org/M-8B",
        "instruct_id": "org/M-8B-Instruct",
        "unsloth": UnslothIds(
            base="unsloth/M-8B",
            base_unsloth_bnb_4bit="unsloth/M-8B-unsloth-bnb-4bit",
            instruct="unsloth/M-8B-Instruct",
            instruct_bnb_4bit="unsloth/M-8B-Instruct-bnb-4bit",
            instruct_unsloth_bnb_4bit="unsloth/M-8B-Instruct-unsloth-bnb-4bit",
        ),
        "params_total_b": 8.0,
        "modalities": ["text"],
        "context_length": 32768,
        "release_date": date(2026, 1, 1),
        "license_id": "apache-2.0",
        "sources": ["https://example.org/m"],
    }
    if "id" in over:  # another model: its own checkpoints
        m = over["id"]
        values.update(base_id=f"org/{m}", instruct_id=f"org/{m}-it", unsloth=UnslothIds(
            base=f"unsloth/{m}", base_unsloth_bnb_4bit=f"unsloth/{m}-unsloth-bnb-4bit", instruct=f"unsloth/{m}-it",
            instruct_bnb_4bit=f"unsloth/{m}-it-bnb-4bit", instruct_unsloth_bnb_4bit=f"unsloth/{m}-it-unsloth-bnb-4bit"))
    values.update(over)
    return CatalogEntry(**values)


def facts(qlora: float | None = 7.0, lora: float | None = 20.0, verdict: str = "allowed") -> Facts:
    return Facts(verdict=verdict, license_note="note", estimates={"qlora": qlora, "lora": lora, "full": None})


def scored(e: CatalogEntry, req: Request, f: Facts | None = None) -> Candidate:
    out = ranking.evaluate(e, req, f or facts(), NEWEST)
    assert isinstance(out, Candidate), out
    return out


# --- base or instruct -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "choice", "try_both"),
    [(None, "instruct", False), (0, "instruct", False), (99, "instruct", False), (299, "instruct", False),
     (300, "instruct", True), (500, "instruct", True), (999, "instruct", True), (1000, "base", False), (5000, "base", False)],
)
def test_base_or_instruct_follows_the_guide(rows: int | None, choice: str, try_both: bool) -> None:
    split = ranking.base_or_instruct(rows)
    assert (split.choice, split.try_both) == (choice, try_both)
    assert "1000" in split.rule and "300" in split.rule


def test_base_or_instruct_explains_unknown_and_tiny_datasets() -> None:
    assert "not given" in ranking.base_or_instruct(None).reason
    assert "100 rows" in ranking.base_or_instruct(40).reason
    assert "experimenting with the base" in ranking.base_or_instruct(500).reason


# --- memory margin and method -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "memory", "fits", "comfortable"),
    # 24 GiB leaves 23.4 after the driver's 0.6: 23.4 fits; comfortable up to 23.4 / 1.1 = 21.27 (80: 72.18)
    [(23.39, 24, True, False), (23.41, 24, False, False), (21.2, 24, True, True), (21.4, 24, True, False),
     (72.1, 80, True, True), (73.0, 80, True, False), (None, 24, None, None), (5.0, None, None, None)],
)
def test_fit_is_estimate_vrams_verdict(total: float | None, memory: float | None, fits: bool | None, comfortable: bool | None) -> None:
    assert ranking.fits(total, memory) is fits
    assert ranking.fits(total, memory, comfortably=True) is comfortable


@pytest.mark.parametrize(("seq_len", "scale"), [(512, 1), (2048, 1), (8192, 1), (8193, 1.7), (16384, 2), (32767, 2), (32768, 4)])
def test_studio_context_scale(seq_len: int, scale: float) -> None:
    assert fit.studio_context_scale(seq_len) == scale


@pytest.mark.parametrize(
    ("params", "seq_len", "memory", "lora"),
    [(8, 2048, 24, True),  # 8*2*1.5 = 24 GB <= 24 GiB = 25.8 GB
     (8, 2048, 16, False), (8, 16384, 24, False), (8, 16384, 48, True), (70, 2048, 80, False), (None, 2048, 80, False)],
)
def test_studio_lora_rule(params: float | None, seq_len: int, memory: float, lora: bool) -> None:
    assert fit.studio_prefers_lora(params, seq_len, memory) is lora


def test_auto_method_picks_lora_only_when_both_rules_agree() -> None:
    both = ranking.choose_method("auto", 8, 2048, 48, {"qlora": 7.0, "lora": 20.0})
    assert (both.method, both.fits) == ("lora", True)
    estimate_says_no = ranking.choose_method("auto", 8, 2048, 24, {"qlora": 7.0, "lora": 23.5})
    assert estimate_says_no.method == "qlora" and "does not fit comfortably" in estimate_says_no.reason
    studio_says_no = ranking.choose_method("auto", 8, 2048, 16, {"qlora": 7.0, "lora": 12.0})
    assert studio_says_no.method == "qlora" and "Studio" in studio_says_no.reason
    unknown = ranking.choose_method("auto", 8, 2048, None, {"qlora": 7.0})
    assert (unknown.method, unknown.fits, unknown.estimate_gib) == ("qlora", None, 7.0)


@pytest.mark.parametrize(
    ("studio", "roomy", "advised", "roomy_off", "method", "case"),
    [(True, True, False, False, "lora", "lora"), (False, True, False, False, "qlora", "qlora_lora_fits_too"),
     (False, True, True, False, "lora", "lora_advised"), (True, False, False, True, "qlora", "qlora_lora_tight"),
     (False, False, True, True, "lora", "lora_aux_off"), (False, False, True, False, "qlora", "qlora"),
     (False, False, False, True, "qlora", "qlora")],
)
def test_the_one_auto_method_rule(studio: bool, roomy: bool, advised: bool, roomy_off: bool, method: str, case: str) -> None:
    """Studio's rule and room for LoRA; Unsloth's advice against QLoRA turns a roomy LoRA (or one roomy only with the
    router aux loss off) into the pick; the aux loss goes off only in that last case."""
    auto = fit.auto_method(studio, roomy, advised, roomy_off)
    assert (auto.method, auto.case, auto.router_aux_loss) == (method, case, case != "lora_aux_off")


def test_an_advised_against_qlora_gives_way_to_lora_with_the_aux_loss_off_where_only_that_fits() -> None:
    chosen = ranking.choose_method("auto", 30, 2048, 80, {"qlora": 20.0, "lora": 75.0}, qlora_advice="MoE",
                                   aux_off={"lora": 60.0})
    assert (chosen.method, chosen.estimate_gib, chosen.fits, chosen.router_aux_loss) == ("lora", 60.0, True, False)
    kept = ranking.choose_method("auto", 30, 2048, 80, {"qlora": 20.0, "lora": 75.0}, aux_off={"lora": 60.0})
    assert (kept.method, kept.router_aux_loss) == ("qlora", True)  # no advice: QLoRA as it comes


def test_requested_method_is_kept_and_judged() -> None:
    full = ranking.choose_method("full", 8, 2048, 24, {"full": 60.0})
    assert (full.method, full.fits) == ("full", False)


# --- ids to load ------------------------------------------------------------------------------


def test_qlora_prefers_dynamic_then_standard_4bit_then_16bit() -> None:
    e = entry()
    assert ranking.load_ids(e, "instruct", "qlora")[0] == "unsloth/M-8B-Instruct-unsloth-bnb-4bit"
    only_bnb = entry(unsloth=UnslothIds(instruct="unsloth/M-8B-Instruct", instruct_bnb_4bit="unsloth/M-8B-Instruct-bnb-4bit"))
    assert ranking.load_ids(only_bnb, "instruct", "qlora")[0] == "unsloth/M-8B-Instruct-bnb-4bit"
    only_16 = entry(unsloth=UnslothIds(instruct="unsloth/M-8B-Instruct"))
    repo, original, caveat = ranking.load_ids(only_16, "instruct", "qlora")
    assert repo == "unsloth/M-8B-Instruct" and "load_in_4bit" in (caveat or "")
    assert original == "org/M-8B-Instruct"


@pytest.mark.parametrize("method", ["lora", "full"])
def test_lora_and_full_load_16bit(method: str) -> None:
    assert ranking.load_ids(entry(), "base", method) == ("unsloth/M-8B", "org/M-8B", None)
    assert ranking.load_ids(entry(), "instruct", method)[0] == "unsloth/M-8B-Instruct"


def test_no_unsloth_upload_names_the_original_repo() -> None:
    e = entry(unsloth=UnslothIds(instruct_bnb_4bit="unsloth/M-8B-Instruct-bnb-4bit"))
    repo, original, caveat = ranking.load_ids(e, "instruct", "lora")
    assert repo is None and original == "org/M-8B-Instruct" and "org/M-8B-Instruct" in (caveat or "")


def test_an_fp8_original_without_an_upload_says_what_unsloth_trains_from_it() -> None:
    """Named as it is (no Unsloth upload to swap in), a per-tensor FP8 repo is not quantised to 4 bits by Unsloth;
    a 16-bit LoRA on it needs load_in_16bit=True; a listed upload of the variant is loaded instead, with no note."""
    fp8 = {"fp8_checkpoints": {"org/M-8B-Instruct": "per-tensor"}, "fact_sources": {"fp8_checkpoints": ["a config"]}}
    bare = entry(unsloth=UnslothIds(), **fp8)
    qlora = ranking.load_ids(bare, "instruct", "qlora")[2] or ""
    assert "Unsloth does not quantise org/M-8B-Instruct to 4 bits" in qlora and "below 8.9" in qlora
    assert "load_in_16bit=True" in (ranking.load_ids(bare, "instruct", "lora")[2] or "")
    assert "FP8" not in (ranking.load_ids(bare, "instruct", "full")[2] or "")
    assert ranking.load_ids(entry(**fp8), "instruct", "qlora")[2] is None


def test_missing_variant_is_never_named() -> None:
    no_base = entry(base_id=None, unsloth=UnslothIds(instruct="unsloth/M-8B-Instruct"))
    assert ranking.pick_variant(no_base, "base")[0] == "instruct"
    c = scored(no_base, Request(task="chat", memory_gib=24, variant="base"))
    assert c.variant == "instruct" and c.unsloth_id == "unsloth/M-8B-Instruct"
    assert any("No base checkpoint" in x for x in c.caveats)
    qlora_base = scored(entry(), Request(task="chat", memory_gib=16, variant="base"))
    assert qlora_base.variant == "base" and qlora_base.unsloth_id == "unsloth/M-8B-unsloth-bnb-4bit"
    lora_base = scored(entry(), Request(task="chat", memory_gib=24, variant="base"))
    assert lora_base.choice.method == "lora" and lora_base.unsloth_id == "unsloth/M-8B"


# --- hard rules -------------------------------------------------------------------------------


def test_static_rules() -> None:
    req = Request(task="code")
    assert ranking.static_failures(entry(), req)[0].rule == "task"
    assert ranking.static_failures(entry(), Request(task="chat", max_params_b=7))[0].rule == "max_params_b"
    assert ranking.static_failures(entry(params_total_b=None), Request(task="chat", max_params_b=70))[0].rule == "max_params_b"
    assert ranking.static_failures(entry(), Request(task="chat", max_params_b=8)) == []
    assert ranking.static_failures(entry(), Request(task="chat", seq_len=65536))[0].rule == "seq_len"
    everything = ranking.static_failures(entry(), Request(task="code", max_params_b=1, seq_len=65536), first_only=False)
    assert [f.rule for f in everything] == ["task", "max_params_b", "seq_len"]


def test_allowed_licenses_include_inherited_terms() -> None:
    permissive = Request(task="chat", allowed_licenses=frozenset({"apache-2.0", "mit"}))
    assert ranking.static_failures(entry(license_id="mit", upstream_license_ids=["apache-2.0"]), permissive) == []
    distill = entry(license_id="mit", upstream_license_ids=["llama3.1"])
    assert "llama3.1" in ranking.static_failures(distill, permissive)[0].detail
    assert ranking.static_failures(entry(license_id=None), permissive)[0].rule == "allowed_licenses"


def test_licence_and_memory_rules() -> None:
    req = Request(task="chat", memory_gib=8)
    assert ranking.evaluate(entry(), req, facts(verdict="not_allowed"), NEWEST) == Failure("license", "note")
    too_big = ranking.evaluate(entry(), req, facts(qlora=7.5), NEWEST)
    assert isinstance(too_big, Failure) and too_big.rule == "memory" and "7.4 GiB" in too_big.detail
    unknown = ranking.evaluate(entry(), req, facts(qlora=None), NEWEST)
    assert isinstance(unknown, Failure) and unknown.rule == "memory"
    no_gpu = scored(entry(), Request(task="chat"), facts(qlora=None))
    assert no_gpu.choice.fits is None


# --- ordering ---------------------------------------------------------------------------------


def test_specialised_family_beats_general_of_the_same_size() -> None:
    req = Request(task="code", memory_gib=24)
    coder = scored(entry(id="c", family="c", tasks=["chat", "code"], specialised_for=["code"]), req)
    general = scored(entry(id="g", family="g", tasks=["chat", "code"]), req)
    assert coder.score > general.score and "Specialised for code" in coder.reasons[0]


def test_recent_beats_old_and_larger_beats_smaller_when_it_fits() -> None:
    req = Request(task="chat", memory_gib=24)
    new = scored(entry(id="n"), req)
    old = scored(entry(id="o", release_date=date(2023, 6, 1)), req)
    assert new.score > old.score
    big = scored(entry(id="b", params_total_b=14), req, facts(qlora=12.0))
    assert big.score > new.score


def test_a_model_past_the_recency_window_ranks_below_a_smaller_current_one_even_when_specialised() -> None:
    """Unsloth's guide: use the latest model. A coder released more than RECENCY_YEARS before the newest entry
    (Code Llama 34B, 2023) comes after a current general model half its size that fits; within the window size still
    wins (test above)."""
    req = Request(task="code", memory_gib=24)
    stale = scored(entry(id="old-coder", family="oc", tasks=["chat", "code"], specialised_for=["code"],
                         params_total_b=34, release_date=date(2023, 3, 1)), req, facts(qlora=20.0))
    current = scored(entry(id="cur", family="cur", tasks=["chat", "code"], params_total_b=8,
                           release_date=date(2025, 6, 1)), req)
    assert current.score > stale.score
    assert any("Unsloth's guide advises the latest models" in c for c in stale.caveats)
    edge = scored(entry(id="edge", release_date=date(2023, 4, 2)), req)  # inside the window by a day: no penalty
    assert not any("latest models" in c for c in edge.caveats)


def test_a_tight_fit_ranks_below_a_comfortable_one() -> None:
    req = Request(task="chat", memory_gib=24)
    comfortable = scored(entry(id="a", params_total_b=14), req, facts(qlora=14.0))
    tight = scored(entry(id="b", params_total_b=20), req, facts(qlora=22.5))
    assert comfortable.score > tight.score and any("Tight fit" in c for c in tight.caveats)


def test_without_gpu_memory_huge_models_rank_below_mid_sized_ones() -> None:
    req = Request(task="chat")
    mid = scored(entry(id="mid", params_total_b=8), req)
    huge = scored(entry(id="huge", params_total_b=400), req)
    assert mid.score > huge.score


def test_licence_verdict_shapes_the_score() -> None:
    req = Request(task="chat", memory_gib=24)
    allowed = scored(entry(), req)
    conditions = scored(entry(), req, facts(verdict="allowed_with_conditions"))
    unknown = scored(entry(), req, facts(verdict="unknown"))
    assert allowed.score > conditions.score > unknown.score
    assert any("unknown" in c for c in unknown.caveats)


def test_languages_reward_documented_support() -> None:
    req = Request(task="chat", memory_gib=24, languages=("de",))
    documented = scored(entry(languages=["en", "de"]), req)
    multilingual = scored(entry(languages=["multilingual (119)"]), req)
    unrecorded = scored(entry(languages=[]), req)
    english_only = scored(entry(languages=["en"]), req)
    assert documented.score > multilingual.score > unrecorded.score > english_only.score
    assert any("de" in r for r in documented.reasons)


def test_use_case_hints_reward_matching_strengths() -> None:
    hints = parse_use_case("An agent that calls tools over long documents in the medical domain")
    req = Request(task="chat", memory_gib=24, hints=hints)
    tagged = scored(entry(strengths=["function-calling", "medical"], context_length=131072), req)
    plain = scored(entry(context_length=8192), req)
    assert tagged.score > plain.score
    assert any("function calling" in r for r in tagged.reasons) and any("medical" in r for r in tagged.reasons)
    assert any("Not tagged for function calling" in c for c in plain.caveats)


def test_a_domain_model_ranks_below_general_ones_unless_the_use_case_names_its_domain() -> None:
    """MedGemma was ranked as 'specialised for vision' in any image list (a medical model, under the HAI-DEF terms):
    its field is no task, so it carries a domain that lowers it unless the use case speaks of that field."""
    general, medical = entry(id="g-4b", family="g"), entry(id="m-4b", family="medgemma", domain="medical")
    plain = Request(task="vision", memory_gib=24)
    assert scored(medical, plain).score < scored(general, plain).score
    assert any("Built for medical data" in c for c in scored(medical, plain).caveats)
    asked = Request(task="vision", memory_gib=24, hints=parse_use_case("Read chest X-rays for radiology reports"))
    assert asked.hints.domains == (("medical", "x-rays"),)
    assert scored(medical, asked).score > scored(general, asked).score
    assert any("Built for medical use, which the use case names ('x-rays')" in r for r in scored(medical, asked).reasons)
    for ordinary in ("customer support chatbot", "healthy recipes", "a patient maths tutor", "diagnose failing CI builds",
                     "nursery rhymes", "health check endpoint", "the Medici family's letters"):
        assert parse_use_case(ordinary).domains == (), ordinary


def test_order_puts_one_per_family_first() -> None:
    req = Request(task="chat", memory_gib=80)
    a1 = scored(entry(id="a-14b", family="a", params_total_b=14), req, facts(qlora=12))
    a2 = scored(entry(id="a-8b", family="a"), req)
    b = scored(entry(id="b-3b", family="b", params_total_b=3, release_date=date(2025, 1, 1)), req, facts(qlora=4))
    assert a2.score > b.score
    assert [c.entry.id for c in ranking.order([a2, b, a1], 3)] == ["a-14b", "b-3b", "a-8b"]
    assert len(ranking.order([a2, b, a1], 2)) == 2


def test_entries_that_load_one_checkpoint_are_one_pick_named_for_the_release_it_came_with() -> None:
    # Granite 4.2 names Granite 4.1's base checkpoint as its base variant: the newer entry ranks higher (recency)
    # but the pick is the older entry's, placed where the better of the two stood.
    req = Request(task="chat", memory_gib=80, variant="base")
    shared = {"base_id": "org/old-8b", "unsloth": UnslothIds(base="unsloth/old-8b")}
    old = scored(entry(id="old-8b", name="Old 8B", family="g", release_date=date(2025, 1, 1)), req)
    new = scored(entry(id="new-8b", name="New 8B", family="g", release_date=date(2026, 1, 1), **shared), req)
    other = scored(entry(id="x-8b", family="x", release_date=date(2025, 6, 1)), req)
    assert new.score > other.score > old.score and new.repo_id == old.repo_id
    picks = ranking.order([old, other, new], 3)
    assert [c.entry.id for c in picks] == ["old-8b", "x-8b"]
    assert any("base variant of New 8B" in c for c in picks[0].caveats)


# --- use case parsing -------------------------------------------------------------------------


def test_use_case_parsing() -> None:
    hints = parse_use_case("Customer support in German and Japanese with function calling, 128k context")
    assert hints.languages == ("de", "ja") and hints.function_calling and hints.long_context
    assert parse_use_case("") == UseCaseHints()
    assert normalise_languages(["DE", "french", "pt-BR", "zh_Hans", "klingon", "de"]) == (["de", "fr", "pt", "zh"], ["klingon"])


# --- Unsloth's method advice ---------------------------------------------------------------------

ADVISED = dict(avoid_methods=("qlora",), avoid_reason="higher than normal quantization differences; source: docs")


def test_advice_against_qlora_switches_auto_to_lora_when_lora_fits() -> None:
    f = Facts(verdict="allowed", license_note="note", estimates={"qlora": 9.0, "lora": 18.0}, **ADVISED)
    c = scored(entry(params_total_b=12.0), Request(task="chat", memory_gib=24.0), f)  # Studio's rule alone: QLoRA
    assert c.choice.method == "lora" and c.choice.fits
    assert "advises against QLoRA" in c.choice.reason and "quantization differences" in c.choice.reason


def test_when_lora_does_not_fit_the_advised_against_method_stays_with_a_caveat_and_ranks_lower() -> None:
    req = Request(task="chat", memory_gib=12.0)
    advised = scored(entry(), req, Facts(verdict="allowed", license_note="note", estimates={"qlora": 7.0, "lora": 18.0}, **ADVISED))
    plain = scored(entry(), req, facts(qlora=7.0, lora=18.0))
    assert advised.choice.method == "qlora"
    assert any("advises against QLoRA" in c for c in advised.caveats)
    assert advised.score == pytest.approx(plain.score - ranking.AVOIDED_METHOD_PENALTY)


def test_an_explicit_request_is_kept_but_caveated() -> None:
    f = Facts(verdict="allowed", license_note="note", estimates={"qlora": 7.0}, **ADVISED)
    c = scored(entry(), Request(task="chat", memory_gib=24.0, method="qlora"), f)
    assert c.choice.method == "qlora" and any("advises against" in x for x in c.caveats)


def test_a_params_only_estimate_ranks_below_a_sized_model() -> None:
    req = Request(task="chat", memory_gib=24.0)
    sized = scored(entry(), req, facts())
    coarse = scored(entry(), req, Facts(verdict="allowed", license_note="note", estimates={"qlora": 7.0, "lora": 20.0},
                                        estimate_caveats={"qlora": "Memory estimated from the parameter count only"},
                                        coarse=True))
    assert coarse.score == pytest.approx(sized.score - ranking.COARSE_ESTIMATE_PENALTY)


def test_a_moe_that_fits_only_with_the_router_aux_loss_off_is_kept_with_the_setting_and_ranked_lower() -> None:
    """The first Unsloth step of a MoE keeps every layer's trial forward while trl's router aux loss holds them: a
    pick that fits only without them says which setting it needs, and ranks below one that fits as it comes."""
    req = Request(task="chat", memory_gib=32.0)
    f = Facts(verdict="allowed", license_note="note", estimates={"qlora": 31.6, "lora": 61.0}, aux_off={"qlora": 24.8})
    c = scored(entry(params_total_b=30.5), req, f)
    assert c.choice.method == "qlora" and c.choice.fits and c.choice.estimate_gib == 24.8 and not c.choice.router_aux_loss
    assert any("SFTConfig(router_aux_loss_coef=0.0)" in x and "~31.6 with it on" in x for x in c.caveats)
    plain = scored(entry(params_total_b=30.5), req, facts(qlora=24.8, lora=61.0))
    assert c.score == pytest.approx(plain.score - ranking.AUX_LOSS_OFF_PENALTY)
    short = ranking.evaluate(entry(params_total_b=30.5), Request(task="chat", memory_gib=24.0), f, NEWEST)
    assert isinstance(short, Failure) and short.rule == "memory"  # too big even without the trials
    roomy = scored(entry(params_total_b=30.5), Request(task="chat", memory_gib=48.0), f)
    assert roomy.choice.estimate_gib == 31.6 and roomy.choice.router_aux_loss
    assert not any("router aux loss" in x for x in roomy.caveats)


def test_lora_that_unsloth_advises_is_taken_when_it_fits_comfortably_only_with_the_router_aux_loss_off() -> None:
    """A MoE on an 80 GiB card: Unsloth advises LoRA, whose figure by default leaves less than the estimate's error
    free, and leaves room without the first step's trials: auto takes LoRA, sized without them, and says so."""
    f = Facts(verdict="allowed", license_note="note", estimates={"qlora": 26.0, "lora": 73.0}, aux_off={"lora": 66.0},
              **ADVISED)
    c = scored(entry(params_total_b=30.5), Request(task="chat", memory_gib=79.65), f)
    assert c.choice.method == "lora" and c.choice.fits and c.choice.estimate_gib == 66.0
    assert any(x.startswith("Sized with trl's router aux loss off") and "~73.0 with it on" in x for x in c.caveats)
    plain = scored(entry(params_total_b=30.5), Request(task="chat", memory_gib=79.65),
                   Facts(verdict="allowed", license_note="note", estimates={"qlora": 26.0, "lora": 66.0}, **ADVISED))
    assert plain.choice.method == "lora" and c.score == pytest.approx(plain.score - ranking.AUX_LOSS_OFF_PENALTY)


def test_a_models_load_caveat_goes_with_every_pick_of_it() -> None:
    """Devstral Small 2's weights are FP8 only: a pick named its FP8 repo as the one to load for QLoRA, which
    bitsandbytes cannot quantise, and said nothing."""
    caveat = "Published in FP8 only: start QLoRA from a 16-bit copy."
    pick = scored(entry(load_caveat=caveat), Request(task="chat", memory_gib=24))
    assert caveat in pick.caveats
    assert not any("FP8" in c for c in scored(entry(), Request(task="chat", memory_gib=24)).caveats)
