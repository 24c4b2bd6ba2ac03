"""Which catalog entries qualify for a fine-tuning request, and in what order. Pure: no I/O.

The rules follow Unsloth's guide "What model should I use for fine-tuning?": serve the task
(a specialised family first), respect the licence and the hardware, prefer recent models and the
largest one that fits comfortably, and choose base or instruct by dataset size. The tool layer
(`recommend_model`) computes the facts that need other modules (licence verdicts, memory
estimates) and hands them in as values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Literal

from pydantic import BaseModel

from finetune_advisor.catalog import naming, quantised
from finetune_advisor.catalog.schema import CatalogEntry
from finetune_advisor.licensing.binding import unconfirmed_licence
from finetune_advisor.recommend.use_case import UseCaseHints
from finetune_advisor.vocabulary import METHOD_NAMES, Method, MethodRequest, Variant, Verdict
from finetune_advisor.vram import fit
from finetune_advisor.vram.estimator import AUX_LOSS_OFF, BLOCK_COMPILE_OFF

# --- the memory verdict ------------------------------------------------------------------------

# A pick that fits only tightly (less room than the estimator's measured error) ranks below comfortable
# ones: as much as a specialised family's bonus.
TIGHT_FIT_PENALTY = 3.0


def verdict(total_gib: float | None, memory_gib: float | None, reserved_gib: float = fit.DRIVER_RESERVED_GIB,
            margin: float = fit.TIGHT_FRACTION) -> fit.Fit | None:
    """estimate_vram's verdict for an estimate; None when the estimate or the memory is unknown."""
    if total_gib is None or memory_gib is None:
        return None
    return fit.judge(total_gib, memory_gib, reserved_gib, margin)


def fits(total_gib: float | None, memory_gib: float | None, comfortably: bool = False,
         reserved_gib: float = fit.DRIVER_RESERVED_GIB, margin: float = fit.TIGHT_FRACTION) -> bool | None:
    found = verdict(total_gib, memory_gib, reserved_gib, margin)
    if found is None:
        return None
    return found.comfortable if comfortably else found.fits


# --- base or instruct --------------------------------------------------------------------------

BASE_MIN_ROWS = 1000
EITHER_MIN_ROWS = 300
BASE_INSTRUCT_RULE = (
    "Unsloth's guide: 1000+ rows -> base; 300-1000 high-quality rows -> either; under 300 -> instruct."
)


class BaseVsInstruct(BaseModel):
    choice: Variant
    rule: str
    reason: str
    try_both: bool


def base_or_instruct(dataset_rows: int | None) -> BaseVsInstruct:
    """Apply the guide's dataset-size rule."""
    if dataset_rows is None:
        choice: Variant = "instruct"
        reason = "Dataset size not given: instruct is the safe start; with 1000+ rows a base model is worth it."
    elif dataset_rows >= BASE_MIN_ROWS:
        choice, reason = "base", f"{dataset_rows} rows is enough to teach a base model the format and behaviour."
    elif dataset_rows >= EITHER_MIN_ROWS:
        choice = "instruct"
        reason = (
            f"{dataset_rows} rows sits in the 300-1000 band where either works: instruct is the easier start, "
            "and experimenting with the base model as well is worthwhile."
        )
    else:
        choice = "instruct"
        reason = f"{dataset_rows} rows is too few to teach a base model to follow instructions; start from instruct."
        if dataset_rows < 100:
            reason += " Unsloth's datasets guide calls 100 rows the minimum: consider synthetic data."
    try_both = dataset_rows is not None and EITHER_MIN_ROWS <= dataset_rows < BASE_MIN_ROWS
    return BaseVsInstruct(choice=choice, rule=BASE_INSTRUCT_RULE, reason=reason, try_both=try_both)


def has_variant(entry: CatalogEntry, variant: Variant) -> bool:
    """A variant exists when its original repo or any Unsloth upload of it is listed."""
    original = entry.base_id if variant == "base" else entry.instruct_id
    return bool(original) or any(v == variant for _, v, _ in entry.unsloth.slots())


def pick_variant(entry: CatalogEntry, preferred: Variant) -> tuple[Variant, str | None]:
    """The preferred variant when it exists, else the other one with a caveat saying so."""
    if has_variant(entry, preferred):
        return preferred, None
    other: Variant = "instruct" if preferred == "base" else "base"
    return other, f"No {preferred} checkpoint is published for {entry.name}, so the {other} one is named instead."


# --- method and the id to load -----------------------------------------------------------------

METHOD_RULE = (
    "Method auto follows Unsloth Studio's rule: LoRA when 16-bit weights (2 bytes/param) x 1.5 x a context "
    "factor (1 up to 8192 tokens, 1.7 above, 2 from 16384, 4 from 32768) fit the GPU memory, else QLoRA; "
    "LoRA is kept only if our own estimate also fits it comfortably (not tight)."
)


@dataclass(frozen=True)
class MethodChoice:
    method: Method
    estimate_gib: float | None
    fits: bool | None
    reason: str
    margin: float = fit.TIGHT_FRACTION  # the estimate's expected error (fit.judge)
    router_aux_loss: bool = True  # False: sized with trl's router aux loss off (without_aux_loss)


def choose_method(
    requested: MethodRequest,
    params_b: float | None,
    seq_len: int,
    memory_gib: float | None,
    estimates: Mapping[Method, float | None],
    reserved_gib: float = fit.DRIVER_RESERVED_GIB,
    margins: Mapping[Method, float] | None = None,
    qlora_advice: str | None = None,
    aux_off: Mapping[Method, float | None] | None = None,
) -> MethodChoice:
    """The method to recommend, its estimate and whether it fits (`margins`: each method's expected error, where
    its step is measured ground or not). Method auto is `fit.auto_method`'s choice; `qlora_advice`: why Unsloth
    advises against QLoRA for the family, if it does; `aux_off`: the estimates with trl's router aux loss off, for a
    MoE whose first step keeps the trials."""
    def margin(method: Method) -> float:
        return (margins or {}).get(method, fit.TIGHT_FRACTION)

    if requested != "auto":
        est = estimates.get(requested)
        return MethodChoice(requested, est, fits(est, memory_gib, reserved_gib=reserved_gib, margin=margin(requested)),
                            f"{METHOD_NAMES[requested]} as requested.", margin(requested))
    qlora, lora = estimates.get("qlora"), estimates.get("lora")
    if memory_gib is None:
        return MethodChoice("qlora", qlora, None, "QLoRA: GPU memory unknown, and QLoRA needs the least.",
                            margin("qlora"))
    lora_off = (aux_off or {}).get("lora")

    def roomy(est: float | None) -> bool:
        return bool(fits(est, memory_gib, comfortably=True, reserved_gib=reserved_gib, margin=margin("lora")))

    auto = fit.auto_method(fit.studio_prefers_lora(params_b, seq_len, memory_gib), roomy(lora), qlora_advice is not None,
                           roomy(lora_off))
    if auto.case == "lora":
        return MethodChoice("lora", lora, True, "LoRA (16-bit): Studio's rule and our estimate both leave room.",
                            margin("lora"))
    if auto.method == "lora":
        est = lora if auto.router_aux_loss else lora_off
        return MethodChoice("lora", est, True, f"LoRA (16-bit): Unsloth advises against QLoRA for this family "
                            f"({qlora_advice}), and LoRA fits.", margin("lora"), router_aux_loss=auto.router_aux_loss)
    if auto.case == "qlora_lora_tight":
        why = ("QLoRA: Studio's rule allows LoRA, but our LoRA estimate does not fit comfortably"
               + (f" (~{lora:.1f} GiB, with less than the {margin('lora'):.0%} this estimate may miss by to spare)."
                  if lora is not None else "."))
    elif auto.case == "qlora_lora_fits_too":
        why = (f"QLoRA (4-bit), as Unsloth Studio's rule picks at this size; by our estimate 16-bit LoRA (~{lora:.1f} "
               "GiB) fits too, and trains faster: ask for LoRA to use it.")
    else:
        why = "QLoRA (4-bit): 16-bit LoRA fits neither Unsloth Studio's rule nor, comfortably, our estimate."
    return MethodChoice("qlora", qlora, fits(qlora, memory_gib, reserved_gib=reserved_gib, margin=margin("qlora")), why,
                        margin("qlora"))


def load_ids(entry: CatalogEntry, variant: Variant, method: Method) -> tuple[str | None, str, str | None]:
    """(unsloth id, original repo, caveat) to load for the variant and method.

    QLoRA prefers Unsloth's dynamic `-unsloth-bnb-4bit` upload, then `-bnb-4bit`, then the 16-bit
    upload quantised at load time; LoRA and full fine-tuning load the 16-bit upload. An upload Unsloth's
    loader redirects is named as it loads (naming.LOADER_REDIRECTS), with the reason.
    """
    original = (entry.base_id if variant == "base" else entry.instruct_id) or ""
    ids = entry.unsloth
    if method == "qlora":
        repo = ids.for_qlora(variant)
        if repo and naming.is_quantised_upload(repo):
            return naming.loaded_by_unsloth(repo), original, naming.redirect_note(repo)
        if repo:
            return repo, original, f"No pre-quantised 4-bit upload is listed: {repo} is quantised on load (load_in_4bit=True)."
    else:
        repo = ids.get(variant, "16bit")
        if repo:
            return repo, original, None
    where = original or "the original repo"
    caveat = f"No matching Unsloth upload is listed for this variant and method: load {where}."
    scales = entry.fp8_checkpoints.get(original)  # loaded as it is: no upload is swapped in for it
    if method == "qlora" and naming.loads_16bit_for_qlora(original):
        caveat += " " + naming.bf16_note(original)
    elif scales and (fp8 := quantised.unsloth_note(original, scales, method, None)):
        caveat += " " + fp8
    return None, original, caveat


# --- hard rules --------------------------------------------------------------------------------

Rule = Literal["task", "max_params_b", "allowed_licenses", "seq_len", "license", "memory"]


@dataclass(frozen=True)
class Request:
    """The constraints of one recommendation request, normalised."""

    task: str
    seq_len: int = 2048
    memory_gib: float | None = None
    reserved_gib: float = fit.DRIVER_RESERVED_GIB  # what the GPU's driver keeps (per GPU where measured)
    method: MethodRequest = "auto"
    max_params_b: float | None = None
    allowed_licenses: frozenset[str] = frozenset()
    languages: tuple[str, ...] = ()
    hints: UseCaseHints = field(default_factory=UseCaseHints)
    variant: Variant = "instruct"


@dataclass(frozen=True)
class Failure:
    rule: Rule
    detail: str


def licence_ids(entry: CatalogEntry) -> list[str | None]:
    """The entry's licence and those it inherits (a distill carries its teacher's/base's terms)."""
    return [entry.license_id, *entry.upstream_license_ids]


def static_failures(entry: CatalogEntry, req: Request, first_only: bool = True) -> list[Failure]:
    """Rules decided by the catalog alone: task, size cap, licence allow-list, context length."""
    found: list[Failure] = []
    if req.task not in entry.tasks:
        found.append(Failure("task", f"does not serve {req.task} (serves {', '.join(entry.tasks)})"))
    if req.max_params_b is not None and (entry.params_total_b is None or entry.params_total_b > req.max_params_b):
        size = f"{entry.params_total_b:g}B" if entry.params_total_b else "an unknown size"
        found.append(Failure("max_params_b", f"has {size}, over max_params_b {req.max_params_b:g}"))
    if req.allowed_licenses:
        outside = [lic or "unknown" for lic in licence_ids(entry) if lic not in req.allowed_licenses]
        if outside:
            found.append(Failure("allowed_licenses", f"licence {', '.join(outside)} is not in allowed_licenses"))
    # A speech model's context counts decoder tokens of a 30 s window (Whisper: 448), not a text seq_len.
    if entry.context_length is not None and req.seq_len > entry.context_length and "text" in entry.modalities:
        found.append(Failure("seq_len", f"seq_len {req.seq_len} exceeds its context length {entry.context_length}"))
    return found[:1] if first_only else found


# --- scoring -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What the tool layer computed for one entry: licence verdict and memory estimates."""

    verdict: Verdict
    license_note: str
    estimates: Mapping[Method, float | None]
    estimate_caveats: Mapping[Method, str | None] = field(default_factory=dict)  # method -> what its figure rests on
    # method -> its estimate's expected error (fit.judge), from how far the model is from measured ground
    margins: Mapping[Method, float] = field(default_factory=dict)
    avoid_methods: tuple[Method, ...] = ()  # methods Unsloth advises against for this family
    avoid_reason: str | None = None  # its words, with where it says so
    coarse: bool = False  # sized from the parameter count only (no architecture in the catalog)
    min_transformers: str | None = None  # Unsloth's loader needs at least this transformers for the family
    chat_templates: Mapping[str, str] = field(default_factory=dict)  # variant -> Unsloth's template name
    # method -> the estimate with trl's router aux loss off, for a MoE whose first Unsloth step keeps the trials
    aux_off: Mapping[Method, float | None] = field(default_factory=dict)

    @property
    def avoid_why(self) -> str:
        return self.avoid_reason or "see Unsloth's docs"

    @property
    def qlora_advice(self) -> str | None:
        """Why Unsloth advises against QLoRA for this family, where it does and LoRA is not advised against too."""
        return self.avoid_why if "qlora" in self.avoid_methods and "lora" not in self.avoid_methods else None


@dataclass
class Candidate:
    entry: CatalogEntry
    variant: Variant
    choice: MethodChoice
    verdict: Verdict
    unsloth_id: str | None
    repo_id: str
    chat_template: str | None = None  # Unsloth's template name for this variant
    min_transformers: str | None = None
    score: float = 0.0
    reasons: list[str] = field(default_factory=list)
    caveats: list[str] = field(default_factory=list)


RECENCY_YEARS = 3.0  # a model this much older than the newest in the catalog gets no recency credit ...
# ... and beyond that ranks below the models still in the window that fit (Unsloth's guide: "use the latest model"):
# as much as a specialised family's bonus and more than size can win back, so Code Llama 34B (2023) does not come
# before a current coder that fits the same card.
STALE_PENALTY = 4.0
# With no GPU memory known, sizes above this rank lower (QLoRA of an 8B model fits a 12-16 GiB card).
UNKNOWN_GPU_SWEET_SPOT_B = 8.0


def evaluate(entry: CatalogEntry, req: Request, facts: Facts, newest: date | None) -> Candidate | Failure:
    """Apply the licence and memory rules to an entry that passed `static_failures`, then score it."""
    if facts.verdict == "not_allowed":
        return Failure("license", facts.license_note)
    choice = choose_method(req.method, entry.params_total_b, req.seq_len, req.memory_gib, facts.estimates, req.reserved_gib,
                           facts.margins, facts.qlora_advice, facts.aux_off)
    choice, aux_caveat = without_aux_loss(choice, req, facts)
    advice = advice_caveat(choice, facts)
    if req.memory_gib is not None and not choice.fits:
        if choice.estimate_gib is None:
            return Failure("memory", facts.estimate_caveats.get(choice.method)
                           or f"its {METHOD_NAMES[choice.method]} memory cannot be estimated")
        usable = choice.estimate_gib + fit.judge(choice.estimate_gib, req.memory_gib, req.reserved_gib).headroom_gib
        return Failure("memory", f"{METHOD_NAMES[choice.method]} needs ~{choice.estimate_gib:.1f} GiB; a {req.memory_gib:g} GiB "
                                 f"GPU leaves {usable:.1f} GiB after the driver's share")
    variant, variant_caveat = pick_variant(entry, req.variant)
    unsloth_id, repo_id, id_caveat = load_ids(entry, variant, choice.method)
    cand = Candidate(entry, variant, choice, facts.verdict, unsloth_id, repo_id,
                     facts.chat_templates.get(variant) or entry.chat_template, facts.min_transformers)
    for caveat in (variant_caveat, id_caveat, entry.load_caveat, facts.estimate_caveats.get(choice.method), advice,
                   aux_caveat):
        if caveat:
            cand.caveats.append(caveat)
    cand.score = _score(cand, req, facts, newest) - (AVOIDED_METHOD_PENALTY if choice.method in facts.avoid_methods else 0.0)
    cand.score -= 0.0 if choice.router_aux_loss else AUX_LOSS_OFF_PENALTY
    if facts.coarse and req.task not in entry.specialised_for:
        # A params-only figure is no base for a first pick when sized models qualify; a specialist for the
        # task (Whisper for speech-to-text, whose encoder-decoder the estimator does not lay out) keeps its place.
        cand.score -= COARSE_ESTIMATE_PENALTY
    return cand


AVOIDED_METHOD_PENALTY = 1.5  # a pick that goes against Unsloth's method advice ranks below one that does not
AUX_LOSS_OFF_PENALTY = 1.0  # a pick sized with a setting changed ranks below one that fits as it comes
DOMAIN_PENALTY = 1.5  # a model trained for one field (medical) below general ones unless the use case names it,
DOMAIN_BONUS = 2.0  # ... and above most of them where it does (a specialised family's bonus is 3)
COARSE_ESTIMATE_PENALTY = 3.0  # as much as a specialised family's bonus: sized models come first


def advice_caveat(choice: MethodChoice, facts: Facts) -> str | None:
    """Unsloth advises against some methods for some families (QLoRA for Qwen3.5 and MoE models); a pick that keeps
    such a method (asked for, or LoRA would not fit) says so and ranks lower."""
    if choice.method not in facts.avoid_methods:
        return None
    return (f"Unsloth advises against {METHOD_NAMES[choice.method]} for this family "
            f"({facts.avoid_why}); LoRA would need more memory than this GPU has. Ranked lower.")


def without_aux_loss(choice: MethodChoice, req: Request, facts: Facts) -> tuple[MethodChoice, str | None]:
    """A MoE that fits only because its first Unsloth step no longer keeps every layer's trial forward (trl's router
    aux loss holds them): the run with SFTConfig(router_aux_loss_coef=0.0), chosen so by method auto or taken here
    when the method does not fit as it comes, and the caveat that says so. A run that forgets the setting runs out of
    memory in its first step, not days in."""
    on = facts.estimates.get(choice.method)
    if choice.router_aux_loss:
        off = facts.aux_off.get(choice.method)
        if choice.fits is not False or not fits(off, req.memory_gib, reserved_gib=req.reserved_gib, margin=choice.margin):
            return choice, None
        choice = replace(choice, estimate_gib=off, fits=True, router_aux_loss=False)
    caveat = (f"Sized with {AUX_LOSS_OFF}: ~{choice.estimate_gib:.1f} GiB, against ~{on:.1f} with it on, because "
              "Unsloth's first step keeps every layer's trial forward for it (estimate_vram's router_aux_loss; measured "
              f"on Qwen3-30B-A3B); {BLOCK_COMPILE_OFF}. Ranked lower.")
    return choice, caveat


# What a family built for the task adds, and why (SPECIALISED_DEFAULT where not listed: a specialised family before a
# general one). Unsloth's guide asks for "a specialised model such as Qwen Coder" for code, but for images only for "a
# vision model such as Llama 3.2 Vision", which every vision candidate is (the task requires image input): natively
# multimodal families (Gemma 3 and 4, Ministral 3, Qwen3.5) qualify as much as a vision-language one, and the guide's
# next rule, "use the latest model", then decides. Built for images breaks ties: it weighs a quarter of the recency
# range (about nine months of age), so a 2024 vision-language model no longer outranks a 2026 multimodal one that fits.
SPECIALISED_DEFAULT = (3.0, ", as the guide advises")
SPECIALISED: dict[str, tuple[float, str]] = {
    "vision": (0.5, ": built for images, where the guide asks only for a model that takes them"),
}


def _score(c: Candidate, req: Request, facts: Facts, newest: date | None) -> float:
    e, score = c.entry, 0.0
    if req.task in e.specialised_for:
        bonus, why = SPECIALISED.get(req.task, SPECIALISED_DEFAULT)
        score += bonus
        c.reasons.append(f"Specialised for {req.task} ({e.family} family){why}.")
    elif e.specialised_for:
        score -= 1.0
        c.caveats.append(f"Specialised for {', '.join(e.specialised_for)}; a general model may suit {req.task} better.")
    if e.release_date and newest:
        age = max(0.0, (newest - e.release_date).days / 365.25)
        score += 2.0 * max(0.0, 1.0 - age / RECENCY_YEARS)
        if age < 0.5:
            c.reasons.append(f"Recent: released {e.release_date.isoformat()}, among the newest in the catalog.")
        elif age > RECENCY_YEARS:
            score -= STALE_PENALTY
            c.caveats.append(f"Released {e.release_date.isoformat()}, more than {RECENCY_YEARS:g} years before the newest "
                             "model in the catalog: Unsloth's guide advises the latest models. Ranked below newer ones.")
        else:
            c.reasons.append(f"Released {e.release_date.isoformat()}.")
    else:
        c.caveats.append("Release date not recorded in the catalog.")
    score += _size_score(c, req, facts.coarse)
    score += _language_score(c, req.languages)
    score += _hint_score(c, req.hints)
    if c.verdict == "unknown":
        score -= 1.5
        c.caveats.append(f"Licence terms unknown ({facts.license_note}): check them before any use.")
    elif c.verdict == "allowed_with_conditions":
        score -= 0.25
        c.caveats.append(f"Licence {e.license_id} allows this use with conditions: {facts.license_note}")
    else:
        c.reasons.append(f"Licence {e.license_id} allows the stated use.")
    unconfirmed = unconfirmed_licence(e)
    if c.verdict != "unknown" and unconfirmed:
        c.caveats.append(unconfirmed)
    if c.variant != req.variant:
        score -= 0.5
    if c.unsloth_id is None:
        score -= 0.5
    if e.architecture_status in ("unverified", "unknown"):
        score -= 0.25
    return round(score, 3)


def _size_score(c: Candidate, req: Request, coarse: bool = False) -> float:
    """Bigger is better up to a comfortable fit; without known memory, sizes near 8B are preferred. `coarse`: sized
    from the parameter count only (its tight note says why its margin is wide)."""
    params = c.entry.params_total_b
    if params is None:
        c.caveats.append("Parameter count not recorded in the catalog.")
        return 0.0
    size = 0.6 * math.log2(1 + params)
    est, mem = c.choice.estimate_gib, req.memory_gib
    if mem is None:
        c.reasons.append(f"{params:g}B parameters; fit not checked (GPU memory unknown).")
        return size - (2.1 * math.log2(params / UNKNOWN_GPU_SWEET_SPOT_B) if params > UNKNOWN_GPU_SWEET_SPOT_B else 0.0)
    assert est is not None  # a known memory only lets through candidates with an estimate
    found = fit.judge(est, mem, req.reserved_gib, c.choice.margin)
    c.reasons.append(
        f"{params:g}B parameters: {METHOD_NAMES[c.choice.method]} needs ~{est:.1f} GiB of {mem:g} GiB "
        f"({found.headroom_gib:.1f} GiB headroom after the driver's share)."
    )
    c.reasons.append(c.choice.reason)
    if found.tight:
        note = fit.tight_note(found.headroom_gib, found.margin, coarse=coarse)
        c.caveats.append(note + " Ranked below comfortable fits.")
        return size - TIGHT_FIT_PENALTY
    return size


def _language_score(c: Candidate, wanted: Sequence[str]) -> float:
    """Up to +1.5 when every requested language is documented; less when unknown, minus when absent."""
    if not wanted:
        return 0.0
    listed = {lang.lower() for lang in c.entry.languages}
    multilingual = "multilingual" in {t.lower() for t in c.entry.strengths} or any(lang.startswith("multilingual") for lang in listed)
    named = [lang for lang in wanted if lang in listed]
    missing = [lang for lang in wanted if lang not in listed]
    per = 1.5 / len(wanted)
    score = per * len(named)
    if named:
        c.reasons.append(f"Documented for the requested language(s): {', '.join(named)}.")
    if not missing:
        return score
    if multilingual:
        c.caveats.append(f"Multilingual, but {', '.join(missing)} is not named on its model card.")
        return score + 0.5 * per * len(missing)
    if listed:
        c.caveats.append(f"Its documented languages do not include {', '.join(missing)}.")
        return score - per * len(missing)
    c.caveats.append(f"Languages not recorded in the catalog, so the language preference was not applied to it: "
                     f"check {', '.join(missing)} support on its model card.")
    return score


def _hint_score(c: Candidate, hints: UseCaseHints) -> float:
    e, score = c.entry, 0.0
    tags = {t.lower() for t in e.strengths}
    if hints.function_calling:
        if tags & {"function-calling", "tool-use", "agentic"}:
            score += 0.75
            c.reasons.append("Tagged for function calling / tool use.")
        else:
            c.caveats.append("Not tagged for function calling: include tool-call examples in the data.")
    if hints.long_context:
        if (e.context_length or 0) >= 65536:
            score += 0.5
            c.reasons.append(f"Long context: {e.context_length} tokens.")
        else:
            c.caveats.append(f"Context length {e.context_length or 'unknown'} may be short for long documents.")
    if word := hints.domain_word(e.domain):
        score += DOMAIN_BONUS
        c.reasons.append(f"Built for {e.domain} use, which the use case names ('{word}').")
    elif e.domain:
        score -= DOMAIN_PENALTY
        c.caveats.append(f"Built for {e.domain} data ({e.family}): the use case names no {e.domain} work, so general "
                         "models rank first.")
    matched = sorted(hints.keywords & tags)
    if matched:
        score += 0.75
        c.reasons.append(f"Matches the use case: {', '.join(matched)}.")
    return score


def order(candidates: Iterable[Candidate], top_k: int) -> list[Candidate]:
    """Best first, one pick per checkpoint, the best of each family before a second model of the same family."""
    ranked = _one_per_checkpoint(sorted(candidates, key=lambda c: (-c.score, c.entry.id)))
    seen: set[str] = set()
    firsts, rest = [], []
    for c in ranked:
        (rest if c.entry.family in seen else firsts).append(c)
        seen.add(c.entry.family)
    return (firsts + rest)[:top_k]


def _one_per_checkpoint(ranked: list[Candidate]) -> list[Candidate]:
    """Entries that would load the same checkpoint the same way count once (Granite 4.2 publishes no base models:
    its base variant is Granite 4.1's): as the entry released first, whose checkpoint it is, placed where the
    best-ranked of them stood."""
    groups: dict[tuple[str, str | None, str], list[Candidate]] = {}
    for c in ranked:
        groups.setdefault((c.repo_id, c.unsloth_id, c.choice.method), []).append(c)
    kept = []
    for group in groups.values():  # in the order of each group's best-ranked member
        owner = min(group, key=lambda c: (c.entry.release_date or date.max, c.entry.id))
        if len(group) > 1:
            others = ", ".join(c.entry.name for c in group if c is not owner)
            owner.caveats.append(f"The same checkpoint is the {group[0].variant} variant of {others}: listed once.")
        kept.append(owner)
    return kept


def newest_release(entries: Iterable[CatalogEntry]) -> date | None:
    dates = [e.release_date for e in entries if e.release_date]
    return max(dates) if dates else None
