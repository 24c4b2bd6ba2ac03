"""`catalog check`: what the schema cannot see, checked on the whole catalog (pure).

- every licence id (own and upstream) has licence data;
- every Unsloth id sits in the slot its name says (naming grammar: variant and quantisation);
- every fact has a source, or is listed in `uncertain_fields`;
- an architecture marked verified or corroborated cites its config copies and is not uncertain as a whole
  (one uncertain field is named `architecture.<field>`);
- the parameter count the architecture adds up to agrees with `params_total_b` within 3 %,
  unless `params_note` explains the difference (a vision tower, per-layer embeddings, an audio codec);
- `context_length` is at most the architecture's `max_position_embeddings`, unless the notes say why;
- a model whose architecture fuses projections the LoRA target names miss (Phi-3's qkv_proj, gate_up_proj) and that
  has Unsloth uploads says, with a source, which layout those uploads are stored in (`unsloth_layout`, or a source
  that they keep the original's): Unsloth converted some, and the layout decides the adapters counted;
- Unsloth's advice is recorded only for families the catalog has;
- a model names no base checkpoint (repo or Unsloth upload) that a model without its specialisation, or one released
  before it, also names: that checkpoint is the model it was post-trained from (Devstral's was Mistral Small 3.1's,
  Granite 4.2's Granite 4.1's), and a pick that loads it for a large dataset would train another model than the one
  it was chosen as, under the later model's name and date.
"""

from __future__ import annotations

from dataclasses import dataclass

from finetune_advisor.catalog import naming
from finetune_advisor.catalog.schema import Catalog, CatalogEntry
from finetune_advisor.vram.families import forced_float32
from finetune_advisor.vram.shapes import FUSED_PROJECTIONS, shapes

PARAMS_TOLERANCE = 0.03
# Facts that need a source of their own when they are set.
SOURCED_FACTS = ("params_total_b", "params_active_b", "context_length", "release_date", "license_id",
                 "upstream_license_ids", "architecture", "languages", "strengths", "gated", "chat_template",
                 "dynamic_4bit")


@dataclass(frozen=True)
class Problem:
    model: str
    field: str
    text: str

    def __str__(self) -> str:
        return f"{self.model}: {self.field}: {self.text}"


def check(catalog: Catalog, license_ids: set[str]) -> list[Problem]:
    """Every problem found; an empty list means the catalog passes."""
    problems = [p for entry in catalog.models for p in check_entry(entry, license_ids)]
    families = {m.family for m in catalog.models}
    problems += [Problem(g.family, "family", "advice for a family no catalog entry has")
                 for g in catalog.families if g.family not in families]
    return problems + _float32_advice(catalog) + _borrowed_bases(catalog)


def _borrowed_bases(catalog: Catalog) -> list[Problem]:
    """Models whose base checkpoint another model also names: a less specialised one, or one released earlier."""
    found = []
    for entry in catalog.models:
        bases = _bases(entry)
        owners = [m for m in catalog.models if m.id != entry.id and bases & _bases(m) and _lent_by(m, entry)]
        if owners:
            shared = sorted(bases & set().union(*(_bases(m) for m in owners)))
            found.append(Problem(entry.id, "base_id", f"{', '.join(shared)}: named as the base of "
                                 f"{', '.join(m.id for m in owners)} too, the model it was post-trained from, not a base "
                                 "of its own (leave base_id and the base Unsloth uploads to that entry)"))
    return found


def _bases(entry: CatalogEntry) -> set[str]:
    """The base checkpoints an entry names: its base repo and its base Unsloth uploads, lower-cased."""
    named = [entry.base_id, *(repo for repo, variant, _ in entry.unsloth.slots() if variant == "base")]
    return {r.lower() for r in named if r}


def _lent_by(owner: CatalogEntry, entry: CatalogEntry) -> bool:
    """Whether `owner` is the model `entry` was post-trained from: less specialised, or released before it (an
    entry without a date counts as the later)."""
    if entry.specialised_for and not set(entry.specialised_for) <= set(owner.specialised_for):
        return True
    return owner.release_date is not None and (entry.release_date is None or owner.release_date < entry.release_date)


def _float32_advice(catalog: Catalog) -> list[Problem]:
    """A family's float32_without_bf16 agrees with Unsloth's own list (by model_type, vram.families), which
    decides for models outside the catalog: the two cannot drift apart."""
    found = []
    for entry in catalog.models:
        if entry.architecture is None:
            continue
        guidance = catalog.guidance(entry.family)
        flagged = bool(guidance and guidance.float32_without_bf16)
        if flagged != forced_float32(entry.architecture.model_type):
            found.append(Problem(entry.id, "family.float32_without_bf16",
                                 f"family {entry.family!r} says {flagged}, Unsloth's list for model_type "
                                 f"{entry.architecture.model_type!r} says {not flagged}"))
    return found


def check_entry(entry: CatalogEntry, license_ids: set[str]) -> list[Problem]:
    """The problems of one entry (`catalog refresh` checks what it writes with this)."""
    return [*_licences(entry, license_ids), *_unsloth_ids(entry), *_dynamic_uploads(entry), *_sources(entry),
            *_checked_architecture(entry), *_params(entry), *_context(entry), *_fused_layout(entry)]


def params_disagree(entry: CatalogEntry) -> float | None:
    """The parameter count the architecture adds up to, in billions, when it is off `params_total_b` by more
    than the tolerance; None when they agree or either is unknown."""
    if entry.architecture is None or entry.params_total_b is None:
        return None
    counted = shapes(entry.architecture).total_params / 1e9
    return counted if abs(counted - entry.params_total_b) > PARAMS_TOLERANCE * entry.params_total_b else None


def _licences(entry: CatalogEntry, known: set[str]) -> list[Problem]:
    unknown = [i for i in (entry.license_id, *entry.upstream_license_ids) if i and i not in known]
    return [Problem(entry.id, "license_id", f"no licence data for {i!r}") for i in unknown]


def _unsloth_ids(entry: CatalogEntry) -> list[Problem]:
    found = []
    for repo, variant, quant in entry.unsloth.slots():
        _, named_quant = naming.split_quant(repo)
        if named_quant != quant:
            found.append(Problem(entry.id, f"unsloth.{naming.slot(variant, quant)}",
                                 f"{repo} is a {named_quant} upload by its name"))
    return found


def _dynamic_uploads(entry: CatalogEntry) -> list[Problem]:
    """Facts of a variant's dynamic upload need that upload, and a size beside the -bnb-4bit upload's needs that one."""
    found = []
    for variant, upload in entry.dynamic_4bit.items():
        needed = ["unsloth-bnb-4bit"] + (["bnb-4bit"] if upload.size_gb is not None else [])
        found += [Problem(entry.id, f"dynamic_4bit.{variant}", f"the catalog names no {variant} {quant} upload "
                          f"(unsloth.{naming.slot(variant, quant)})")
                  for quant in needed if not entry.unsloth.get(variant, quant)]
    return found


def _sources(entry: CatalogEntry) -> list[Problem]:
    found = []
    for name in SOURCED_FACTS:
        value = getattr(entry, name)
        if value in (None, [], "", {}) or entry.is_uncertain(name):
            continue
        if not entry.fact_sources.get(name):
            found.append(Problem(entry.id, name, "a fact without a source (add one, or list it in uncertain_fields)"))
    return found


def _checked_architecture(entry: CatalogEntry) -> list[Problem]:
    """A verified or corroborated architecture is what answers drop their 'unverified' caveat on: it cites the
    copies it was checked against even when one of its fields is uncertain, and is never uncertain as a whole."""
    status = entry.architecture_status
    if status not in ("verified", "corroborated"):
        return []
    found = []
    if not entry.fact_sources.get("architecture"):
        found.append(Problem(entry.id, "architecture", f"marked {status} but cites no source (add the config copy "
                             "to fact_sources.architecture, or mark it unverified)"))
    if "architecture" in entry.uncertain_fields:
        found.append(Problem(entry.id, "architecture", f"marked {status} but listed in uncertain_fields (name only "
                             "the uncertain field, e.g. architecture.max_position_embeddings, or mark it unverified)"))
    return found


def _params(entry: CatalogEntry) -> list[Problem]:
    counted = None if entry.params_note else params_disagree(entry)
    if counted is None:
        return []
    return [Problem(entry.id, "params_total_b", f"{entry.params_total_b:g}B, but the architecture adds up to "
                    f"{counted:.3g}B; fix one, or say why in params_note")]


def _fused_layout(entry: CatalogEntry) -> list[Problem]:
    fused = entry.architecture is not None and entry.architecture.model_type in FUSED_PROJECTIONS
    said = entry.fact_sources.get("unsloth_layout") or entry.is_uncertain("unsloth_layout")
    if not fused or not entry.unsloth.slots() or said:
        return []
    return [Problem(entry.id, "unsloth_layout", "fused projections with Unsloth uploads: cite the layout those uploads "
                    "are stored in (unsloth_layout, or a source that they keep the original's), or list unsloth_layout "
                    "in uncertain_fields")]


def _context(entry: CatalogEntry) -> list[Problem]:
    arch = entry.architecture
    if arch is None or not arch.max_position_embeddings or not entry.context_length:
        return []
    if entry.context_length <= arch.max_position_embeddings or entry.is_uncertain("context_length"):
        return []
    return [Problem(entry.id, "context_length", f"{entry.context_length} is above max_position_embeddings "
                    f"{arch.max_position_embeddings}; fix one, or list context_length in uncertain_fields")]
