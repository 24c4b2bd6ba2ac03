"""A model, however it was named, turned into what the estimator needs (pure).

Four ways in: a catalog entry, a config.json read from the Hub, config.json fields given inline,
or a bare parameter count (a coarse stand-in layout). The result carries the architecture and what
is known around it: the real parameter count, the context, the checkpoint's storage, the layers a
pre-quantised checkpoint keeps in 16-bit, and notes the answer must repeat.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from finetune_advisor.catalog import naming, quantised
from finetune_advisor.catalog.schema import Catalog, DynamicUpload, FamilyGuidance, ResolvedModel
from finetune_advisor.errors import InvalidInputError
from finetune_advisor.vocabulary import METHOD_NAMES, Fp8Scales, ModelSource, Quant, Variant, check_range
from finetune_advisor.vram.architecture import Architecture
from finetune_advisor.vram.shapes import architecture_for_params, params_kept_16bit, shapes
from finetune_advisor.vram.terms import DYNAMIC_4BIT_EXTRA, Kept16bit, kept_at_share, kept_by_size, kept_share


@dataclass
class ResolvedArch:
    """An architecture and what is known around it."""

    arch: Architecture
    label: str
    source: ModelSource
    repo_id: str | None = None
    params_total: float | None = None
    context: int | None = None
    storage: Quant = "16bit"
    skip_modules: list[str] | None = None  # the loaded checkpoint's own llm_int8_skip_modules, where known
    dynamic_4bit: bool = False  # Unsloth publishes an -unsloth-bnb-4bit upload of it
    redirected: str | None = None  # the upload a QLoRA run would load that Unsloth's loader redirects (naming)
    qlora_instead: str | None = None  # for a -bf16 repo named, the listed Unsloth upload a QLoRA run can load instead
    dynamic_kept: Kept16bit | None = None  # what that upload keeps in 16-bit, where the catalog knows it
    plain_4bit: str | None = None  # the named variant's -bnb-4bit upload, which a run can load instead of the dynamic one
    fp8_load: tuple[str, Fp8Scales] | None = None  # the FP8 repo Unsloth loads as it is, its scales (catalog.quantised)
    # the FP8 repo transformers loads as it is: the one named, or the original where Unsloth's mapper would swap an
    # upload in for it
    fp8_original: tuple[str, Fp8Scales] | None = None
    coarse: bool = False
    # Unsloth's advice for the catalog family: float32 loading on GPUs without bf16 (None outside the catalog:
    # the config's model_type decides, by Unsloth's own list in vram.families)
    float32_without_bf16: bool | None = None
    takes_images: bool = False  # the catalog's modalities, or a vision_config in the config
    advised_against: dict[str, str] = field(default_factory=dict)  # method -> Unsloth's reason and where it says so
    notes: list[str] = field(default_factory=list)

    def advice(self, method: str) -> str | None:
        """Unsloth's advice against METHOD for this family, as a sentence with its source, or None."""
        why = self.advised_against.get(method)
        return f"{METHOD_NAMES[method]} for this family: {why}." if why else None

    def estimate_kwargs(self, storage: Quant = "16bit") -> dict[str, Any]:
        """What `estimator.estimate` takes beyond the architecture and the run; `storage`: the run's checkpoint
        (`storage_for`), whose 16-bit layers are counted where known."""
        kept = self.dynamic_kept if storage == "unsloth-bnb-4bit" else None
        if self.skip_modules is not None:
            kept = _listed(self.arch, self.skip_modules)
        return {"params_total": self.params_total, "kept_16bit": kept, "context_length": self.context,
                "float32_without_bf16": self.float32_without_bf16, "takes_images": self.takes_images}

    def storage_for(self, method: str, stack: str) -> Quant:
        """The checkpoint a run loads: with load_in_4bit, Unsloth's loader swaps a 16-bit name for its
        dynamic 4-bit upload when one exists, and takes another repo for the uploads it redirects."""
        if method != "qlora" or stack != "unsloth":
            return self.storage
        if self.redirected:
            return naming.split_quant(naming.loaded_by_unsloth(self.redirected))[1]
        return "unsloth-bnb-4bit" if self.storage == "16bit" and self.dynamic_4bit else self.storage

    def load_note(self, method: str, stack: str, capability: str | None = None) -> str | None:
        """What the answer says where the run loads another checkpoint than the one named (`storage_for`), or an FP8
        one as it is (`capability`: the GPU's compute capability, where known)."""
        if self.trains_other(method, stack):
            return None  # the other run is said first, with its figure (other_run_warning)
        if self.fp8_for(stack):
            return self.fp8_note(method, stack, capability)
        if method != "qlora" or stack != "unsloth":
            return None
        if self.redirected:
            swapped = "" if self.redirected == self.repo_id else (
                f"For load_in_4bit Unsloth's mapper swaps in {self.redirected}, its 4-bit upload of this model; ")
            return swapped + (naming.redirect_note(self.redirected) or "")
        return DYNAMIC_SWAP_NOTE if self.storage_for(method, stack) != self.storage else None

    def fp8_for(self, stack: str) -> tuple[str, Fp8Scales] | None:
        """The FP8 repo a run on `stack` loads as it is, with its scales: transformers loads the repo named or the
        original, which Unsloth's mapper may have swapped for an upload of its own."""
        return self.fp8_load if stack == "unsloth" else self.fp8_original

    def fp8_note(self, method: str, stack: str, capability: str | None = None) -> str | None:
        """What the loader does with the FP8 repo this run loads as it is (catalog.quantised), where it matters:
        Unsloth's or transformers' for QLoRA (transformers refuses bitsandbytes on FP8) and LoRA."""
        loaded = self.fp8_for(stack)
        if not loaded or self.trains_other(method, stack):
            return None
        repo, scales = loaded
        if stack != "unsloth":
            return quantised.transformers_note(repo, method, capability)
        return quantised.unsloth_note(repo, scales, method, capability)

    def trains_other(self, method: str, stack: str) -> bool:
        """Whether Unsloth's usual QLoRA call (load_in_4bit=True) trains another run than QLoRA: it loads a -bf16 repo
        in 16 bits (naming.bf16_note), and an FP8 one with one scale per tensor in FP8 or 16 bits
        (catalog.quantised)."""
        if method != "qlora" or stack != "unsloth":
            return False
        return naming.loads_16bit_for_qlora(self.repo_id) or bool(self.fp8_load and self.fp8_load[1] == "per-tensor")

    def other_run_warning(self, capability: str | None = None, lora_gib: float | None = None,
                          lora_weights_gib: float | None = None) -> str:
        """What `trains_other` means for the user, with 16-bit LoRA's figure and its weights' share of it where it was
        estimated."""
        if self.repo_id and naming.loads_16bit_for_qlora(self.repo_id):
            return naming.bf16_note(self.repo_id, self.qlora_instead, lora_gib)
        assert self.fp8_load is not None
        figures = None if lora_gib is None or lora_weights_gib is None else self.over_fp8(lora_gib, lora_weights_gib)
        return quantised.qlora_note(*self.fp8_load, capability, figures)

    def over_fp8(self, lora_gib: float, weights_gib: float) -> quantised.OtherRun:
        """16-bit LoRA's figure (`lora_gib`, of which its weights `weights_gib`), and the same run on one GPU over FP8
        weights as Unsloth trains it (counted, not measured): a byte less for each block linear weight (the rest,
        embeddings, head, norms and a vision tower, stays 16-bit in such checkpoints), and one of them dequantised to
        16 bits at a time for its matmul (unsloth/kernels/fp8.py)."""
        s = shapes(self.arch)
        saving = s.linear_params / 2**30
        dequantised = max((lin.fan_in * lin.fan_out for lin in s.linears), default=0) * 2 / 2**30
        return quantised.OtherRun(lora_gib, lora_gib - saving + dequantised, weights_gib - saving)


DYNAMIC_SWAP_NOTE = "Unsloth loads the -unsloth-bnb-4bit upload for QLoRA, as its loader does for load_in_4bit."


def from_params(params_b: float) -> ResolvedArch:
    """A coarse stand-in: a reference layout scaled to `params_b` billions."""
    check_range("params_b", params_b)
    arch, template = architecture_for_params(params_b)
    return ResolvedArch(arch, f"~{params_b:g}B (coarse)", "params_b", coarse=True, notes=[
        f"Coarse: only the parameter count is known; the layout of {template} scaled to {params_b:g}B is assumed."])


def from_architecture(config: dict[str, Any]) -> ResolvedArch:
    """config.json fields given inline."""
    arch = Architecture.from_hf_config(config, field="architecture")
    fp8 = _fp8_config(repo_id=None, config=config)
    return ResolvedArch(arch, f"architecture ({arch.model_type})", "architecture", skip_modules=skip_modules(config),
                        takes_images="vision_config" in config, fp8_load=fp8, fp8_original=fp8,
                        notes=_quantised_notes(None, config))


def from_hub_config(repo_id: str, config: dict[str, Any]) -> ResolvedArch:
    """A repo the catalog does not know, from the config.json the Hub served."""
    arch = Architecture.from_hf_config(config, field="model")
    redirected = repo_id if naming.redirected(repo_id) else None
    fp8 = _fp8_config(repo_id, config)
    return ResolvedArch(arch, repo_id, "hub", repo_id=repo_id, storage=naming.split_quant(repo_id)[1],
                        redirected=redirected, skip_modules=skip_modules(config), takes_images="vision_config" in config,
                        fp8_load=fp8, fp8_original=fp8,
                        notes=[f"{repo_id} is not in the catalog: its config.json was read from the Hub.",
                               *_quantised_notes(repo_id, config)])


def from_catalog(found: ResolvedModel, guidance: FamilyGuidance | None, catalog: Catalog | None = None) -> ResolvedArch:
    """A catalog entry, with its family's guidance; a coarse stand-in when the catalog has its size but not
    its architecture. `catalog`: whose known dynamic uploads of the same architecture stand in for an unknown one."""
    entry = found.entry
    params = entry.params_total_b * 1e9 if entry.params_total_b else None
    # A speech model's context counts decoder tokens of a 30 s window (Whisper: 448): no seq_len limit from it.
    contexts = [c for c in (entry.context_length, entry.architecture and entry.architecture.max_position_embeddings)
                if c and "text" in entry.modalities]
    notes = [found.note] if found.note else []
    if entry.architecture_status == "unverified":
        notes.append(f"The catalog's architecture for {entry.name} is unverified; the estimate inherits that.")
    if entry.load_caveat:
        notes.append(entry.load_caveat)
    common: dict[str, Any] = dict(repo_id=found.repo_id, params_total=params, context=max(contexts) if contexts else None,
                                  float32_without_bf16=bool(guidance and guidance.float32_without_bf16),
                                  advised_against=advised_against(guidance),
                                  storage=found.quant or "16bit",
                                  dynamic_4bit=_dynamic_4bit(found), redirected=_redirected(found),
                                  qlora_instead=_qlora_instead(found), fp8_load=_fp8_loaded(found),
                                  fp8_original=_fp8_original(found),
                                  takes_images="image" in entry.modalities,
                                  plain_4bit=found.variant and entry.unsloth.get(found.variant, "bnb-4bit"))
    if entry.architecture is not None:
        arch = _as_stored(found, entry.architecture, notes)
        return ResolvedArch(arch, entry.id, "catalog", notes=notes, dynamic_kept=_dynamic_kept(found, arch, catalog), **common)
    if entry.params_total_b is None:
        raise InvalidInputError("model", f"{entry.name} ({entry.id}) is in the catalog, but neither its architecture nor "
                                "its size is recorded, so its memory cannot be estimated",
                                "its config.json as architecture, or its size as params_b, instead of model")
    arch, template = architecture_for_params(entry.params_total_b)
    notes.append(f"Coarse: the catalog has no architecture for {entry.name}; the layout of {template} "
                 f"scaled to {entry.params_total_b:g}B is assumed.")
    return ResolvedArch(arch, entry.id, "catalog", coarse=True, notes=notes, **common)


def _as_stored(found: ResolvedModel, arch: Architecture, notes: list[str]) -> Architecture:
    """The layout the run loads: the unsloth org's converted one (unsloth_layout) whatever repo was named, since
    Unsloth's loader sends the original's id to its own uploads (mapper.py). Loaded by transformers the original keeps
    its layout; where that is a fused one (shapes.FUSED_PROJECTIONS) it carries fewer adapters, so this errs high."""
    entry = found.entry
    layout = entry.unsloth_layout
    if layout is None or layout == arch.model_type:
        return arch
    notes.append(f"Unsloth's uploads of {entry.name} are converted to {layout}'s layout, and its loader sends "
                 f"{entry.instruct_id or entry.base_id} to them: estimated in that layout. Loaded by transformers, "
                 f"the original keeps {arch.model_type}'s, whose fused projections take fewer LoRA adapters.")
    return arch.model_copy(update={"model_type": layout})


def _fp8_config(repo_id: str | None, config: dict[str, Any]) -> tuple[str, Fp8Scales] | None:
    """The repo (or, given inline, 'this checkpoint') and its FP8 scales where config.json says it is FP8."""
    scales = quantised.scales_in(config)
    return (repo_id or "this checkpoint", scales) if scales else None


def _quantised_notes(repo_id: str | None, config: dict[str, Any]) -> list[str]:
    """The note for a config.json declaring a quantisation the estimator neither reads closely nor has measured."""
    method = quantised.method_in(config)
    return [] if method is None or method in quantised.READ_CLOSELY else [
        quantised.other_note(repo_id or "This checkpoint", method)]


def skip_modules(config: dict[str, Any]) -> list[str] | None:
    """`llm_int8_skip_modules` of a pre-quantised checkpoint (the layers it keeps in 16-bit)."""
    quant = config.get("quantization_config")
    skip = quant.get("llm_int8_skip_modules") if isinstance(quant, dict) else None
    return [str(m) for m in skip] if isinstance(skip, list) else None


def advised_against(guidance: FamilyGuidance | None) -> dict[str, str]:
    """The methods Unsloth advises against for the family, each with its reason and first source."""
    if guidance is None or not guidance.avoid_methods:
        return {}
    source = (guidance.fact_sources.get("avoid_methods") or [""])[0]
    why = (guidance.avoid_reason or "see Unsloth's docs").rstrip(".") + (f" (source: {source})" if source else "")
    return {method: why for method in guidance.avoid_methods}


def _dynamic_kept(found: ResolvedModel, arch: Architecture, catalog: Catalog | None) -> Kept16bit | None:
    """What the dynamic upload a QLoRA run loads keeps in 16-bit: its own list or size where the catalog knows them,
    else what the known uploads of its architecture keep (`_kin`); None where the flat share is counted. With no
    variant named, either upload may be loaded: the larger count."""
    variants = [found.variant] if found.variant else [
        v for v in ("base", "instruct") if found.entry.unsloth.get(v, "unsloth-bnb-4bit")]
    uploads = found.entry.dynamic_4bit
    counts = [_kept(uploads[v], arch) if v in uploads else _kin(arch, catalog) for v in variants]
    flat = kept_at_share(DYNAMIC_4BIT_EXTRA, shapes(arch))
    return max(counts, key=lambda c: flat if c is None else c.params, default=None)


def _kin(arch: Architecture, catalog: Catalog | None) -> Kept16bit | None:
    """An unknown upload counted at the least share that the known uploads of its architecture (model_type) keep,
    where every one of them keeps more than the flat share (Qwen2.5's, 44 % to 87 %); None otherwise."""
    kin = [e for e in (catalog.models if catalog else [])
           if e.architecture and e.architecture.model_type == arch.model_type]
    known = [(kept_share(_kept(upload, e.architecture), shapes(e.architecture)), f"{e.name} {variant}")
             for e in kin for variant, upload in e.dynamic_4bit.items()]
    if not known or min(known)[0] <= DYNAMIC_4BIT_EXTRA:
        return None
    least = min(known)[0]
    return Kept16bit(kept_at_share(least, shapes(arch)), (
        f"not known for this upload, so counted at {least:.0%} more than its 4-bit layers take: the least that the "
        f"{len(known)} known uploads of its architecture ({arch.model_type}: {', '.join(sorted(n for _, n in known))}) "
        f"keep, where Unsloth says under {DYNAMIC_4BIT_EXTRA:.0%}; it may be more."))


def _listed(arch: Architecture, modules: list[str]) -> Kept16bit:
    """What a checkpoint's llm_int8_skip_modules keep in 16 bits."""
    return Kept16bit(params_kept_16bit(shapes(arch), modules))


def _kept(upload: DynamicUpload, arch: Architecture) -> Kept16bit:
    if upload.skip_modules is not None:
        return _listed(arch, upload.skip_modules)
    assert upload.size_gb is not None and upload.bnb_4bit_size_gb is not None  # DynamicUpload validates the pair
    return kept_by_size(upload.size_gb, upload.bnb_4bit_size_gb)


def _redirected(found: ResolvedModel) -> str | None:
    """The upload a QLoRA run on Unsloth would load that its loader redirects: the named 4-bit upload, else the
    dynamic upload its loader swaps in for a 16-bit name (with no variant named, where each variant's is redirected
    alike); None where the loader takes what it is given."""
    if found.repo_id and naming.is_quantised_upload(found.repo_id):
        uploads = [found.repo_id]
    else:
        uploads = [r for v in _variants(found, ("base", "instruct"))
                   if (r := found.entry.unsloth.get(v, "unsloth-bnb-4bit"))]
    redirected = [r for r in uploads if naming.redirected(r)]
    quants = {naming.split_quant(naming.loaded_by_unsloth(r))[1] for r in redirected}
    return redirected[0] if redirected and len(redirected) == len(uploads) and len(quants) == 1 else None


def _qlora_instead(found: ResolvedModel) -> str | None:
    """For a -bf16 repo named, the listed Unsloth upload of the same variant that a QLoRA run can load instead, in
    QLoRA's order of preference (naming.QLORA_PREFERENCE, then the 16-bit upload quantised on load)."""
    if not naming.loads_16bit_for_qlora(found.repo_id):
        return None
    uploads = [found.entry.unsloth.for_qlora(v) for v in _variants(found)]
    return next((naming.loaded_by_unsloth(r) for r in uploads if r and not naming.loads_16bit_for_qlora(r)), None)


def _fp8_loaded(found: ResolvedModel) -> tuple[str, Fp8Scales] | None:
    """The FP8 repo Unsloth's loader takes as it is, with its scales: one named other than an original, or an
    original whose variant lists no Unsloth upload (the mapper swaps an upload in for the original); None for the
    rest."""
    entry = found.entry
    if found.repo_id and found.repo_id not in (entry.base_id, entry.instruct_id):
        return _fp8_among(found, [found.repo_id])
    listed = {variant for _, variant, _ in entry.unsloth.slots()}
    return _fp8_among(found, [repo for v, repo in _originals(found) if v not in listed])


def _fp8_original(found: ResolvedModel) -> tuple[str, Fp8Scales] | None:
    """The FP8 repo transformers takes as it is: the one named, else the variant's original (instruct first where
    no variant was named)."""
    return _fp8_among(found, [found.repo_id] if found.repo_id else [repo for _, repo in _originals(found)])


def _originals(found: ResolvedModel) -> list[tuple[str, str]]:
    """(variant, original repo) for the variant named, else for both, instruct first."""
    entry = found.entry
    return [(v, repo) for v in _variants(found) if (repo := entry.instruct_id if v == "instruct" else entry.base_id)]


def _variants(found: ResolvedModel, either: tuple[Variant, ...] = ("instruct", "base")) -> list[Variant]:
    """The variant named, else both, in the order given."""
    return [found.variant] if found.variant else list(either)


def _fp8_among(found: ResolvedModel, repos: list[str]) -> tuple[str, Fp8Scales] | None:
    """The first of `repos` the catalog records as FP8, with its scales."""
    return next(((repo, found.entry.fp8_checkpoints[repo]) for repo in repos if repo in found.entry.fp8_checkpoints),
                None)


def _dynamic_4bit(found: ResolvedModel) -> bool:
    """Whether Unsloth's loader swaps the named checkpoint for a dynamic 4-bit upload: the named variant's own (a
    base repo does not load the instruct's), or either where no variant was named."""
    if found.variant is None:
        return found.entry.unsloth.has_dynamic_4bit
    return found.entry.unsloth.get(found.variant, "unsloth-bnb-4bit") is not None
