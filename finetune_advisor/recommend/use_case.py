"""Read what a free-text use case says about languages, function calling, long context and domain.

Pure and deliberately simple: keyword matching, so the recommendation can say exactly which words
it acted on. Language names and ISO 639-1 codes are both accepted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from finetune_advisor.vocabulary import Domain

# Language names (English and a few endonyms) -> ISO 639-1 code.
LANGUAGE_CODES: dict[str, str] = {
    "english": "en", "german": "de", "deutsch": "de", "french": "fr", "français": "fr", "francais": "fr",
    "spanish": "es", "español": "es", "espanol": "es", "italian": "it", "portuguese": "pt", "dutch": "nl",
    "russian": "ru", "ukrainian": "uk", "polish": "pl", "czech": "cs", "swedish": "sv", "danish": "da",
    "norwegian": "no", "finnish": "fi", "greek": "el", "turkish": "tr", "arabic": "ar", "hebrew": "he",
    "persian": "fa", "farsi": "fa", "hindi": "hi", "bengali": "bn", "urdu": "ur", "tamil": "ta",
    "chinese": "zh", "mandarin": "zh", "cantonese": "zh", "japanese": "ja", "korean": "ko",
    "vietnamese": "vi", "thai": "th", "indonesian": "id", "malay": "ms", "tagalog": "tl", "swahili": "sw",
    "romanian": "ro", "hungarian": "hu", "bulgarian": "bg", "catalan": "ca",
}
_CODES = frozenset(LANGUAGE_CODES.values())

_FUNCTION_CALLING = re.compile(r"\b(function[- ]call\w*|tool[- ]?(use|call\w*)|tools|agent\w*|json mode)\b")
_LONG_CONTEXT = re.compile(r"\b(long[- ](context|documents?|inputs?)|\d{2,3}k (tokens|context)|whole (books?|repos?|codebases?))\b")
# Words that name a field a catalog entry may be specialised for (CatalogEntry.domain): whole words only, none that
# ordinary use cases share ("healthy recipes", "a patient tutor", "diagnose CI failures", "nursery rhymes").
DOMAIN_WORDS: dict[Domain, re.Pattern[str]] = {
    "medical": re.compile(r"\b(medical|medicine|medications?|clinical|clinicians?|clinics?|healthcare|health care|"
                          r"hospitals?|patients|physicians?|doctors|nurses|nursing|radiology|radiologists?|x-?rays?|"
                          r"pathology|pathologists?|dermatology|ophthalmology|biomedical)\b"),
}
_WORD = re.compile(r"[^\W_][\w-]*")
_STOP = frozenset(
    "a an and the for to of in on with my our we i is are be it this that model fine-tune fine tune "
    "tuning finetune data dataset train training want need use using".split()
)


@dataclass(frozen=True)
class UseCaseHints:
    languages: tuple[str, ...] = ()
    function_calling: bool = False
    long_context: bool = False
    keywords: frozenset[str] = frozenset()
    domains: tuple[tuple[Domain, str], ...] = ()  # each field the use case names, with the first word that named it

    def domain_word(self, domain: str | None) -> str | None:
        """The word by which the use case named this field, None where it did not."""
        return next((word for d, word in self.domains if d == domain), None)


def language_code(value: str) -> str | None:
    """ISO 639-1 code for a language name or code, None when not recognised."""
    key = value.strip().lower()
    primary = re.split(r"[-_]", key)[0]  # "pt-BR", "zh_Hans"
    if primary in _CODES:
        return primary
    return LANGUAGE_CODES.get(key) or LANGUAGE_CODES.get(primary)


def normalise_languages(values: Iterable[str]) -> tuple[list[str], list[str]]:
    """(codes, unrecognised values), codes deduplicated in the given order."""
    codes: list[str] = []
    unknown: list[str] = []
    for value in values:
        code = language_code(value)
        if code is None:
            unknown.append(value)
        elif code not in codes:
            codes.append(code)
    return codes, unknown


def parse_use_case(text: str) -> UseCaseHints:
    """The hints a use-case sentence gives."""
    lowered = (text or "").lower()
    words = _WORD.findall(lowered)
    languages = tuple(dict.fromkeys(LANGUAGE_CODES[w] for w in words if w in LANGUAGE_CODES))
    keywords = frozenset(w for w in words if w not in _STOP and w not in LANGUAGE_CODES and len(w) > 2)
    return UseCaseHints(
        languages=languages,
        function_calling=bool(_FUNCTION_CALLING.search(lowered)),
        long_context=bool(_LONG_CONTEXT.search(lowered)),
        keywords=keywords,
        domains=tuple((d, m.group(0)) for d, words in DOMAIN_WORDS.items() if (m := words.search(lowered))),
    )
