"""Local search over the packaged knowledge notes (`tools/knowledge/*.md`): the offline answers.

A note is Markdown with front matter (title, sources as `- Title | URL`, keywords). Search is BM25
over title and keywords (weighted) and body; CJK text is split into character bigrams, so the
Chinese keywords of a note match Chinese questions. Pure apart from `load_notes()`, which reads
the package data once.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from dataclasses import dataclass
from importlib.resources import files

from finetune_advisor.errors import DataError
from finetune_advisor.unsloth_docs.reply import DocsSource, ParsedAnswer

FIELD_WEIGHT = {"title": 3, "keywords": 3, "body": 1}
K1 = 1.2
B = 0.75
RELATIVE_CUTOFF = 0.5  # notes scoring under half the best one are left out
MIN_SCORE = 1.5  # below this, a match is one common word in a body: no real match

_WORD = re.compile(r"[a-z0-9]+|[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]+")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_URL = re.compile(r"^https?://\S+$")
STOPWORDS = frozenset(
    "a about all also am an and any are as at be been but by can could do does for from has have how i if "
    "in into is it its just know like me much many my need no not of on or our please should so some tell "
    "that the their then there they this to want was we were what when which will with would you your".split()
)


@dataclass(frozen=True)
class Note:
    slug: str
    title: str
    sources: tuple[DocsSource, ...]
    keywords: tuple[str, ...]
    body: str


@dataclass(frozen=True)
class Hit:
    note: Note
    score: float


def tokens(text: str) -> list[str]:
    """Lower-cased words without stopwords, light plural stripping; CJK runs as bigrams."""
    out: list[str] = []
    for word in _WORD.findall(text.lower()):
        if _CJK.match(word):
            out += [word] if len(word) == 1 else [word[i : i + 2] for i in range(len(word) - 1)]
        elif word not in STOPWORDS:
            out.append(word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word)
    return out


def parse_note(slug: str, text: str) -> Note:
    """A note from its file text; DataError naming the note if the front matter is wrong."""
    lines = text.replace("\r\n", "\n").split("\n")
    if not lines or lines[0].strip() != "---" or "---" not in (s.strip() for s in lines[1:]):
        raise DataError(f"knowledge note {slug!r}: missing '---' front matter")
    end = next(i for i, s in enumerate(lines[1:], 1) if s.strip() == "---")
    fields: dict[str, str] = {}
    sources: list[DocsSource] = []
    key = ""
    for line in lines[1:end]:
        if line.startswith((" ", "\t")) and line.strip().startswith("- ") and key == "sources":
            title, sep, url = line.strip()[2:].rpartition("|")
            if not sep or not title.strip() or not _URL.match(url.strip()):
                raise DataError(f"knowledge note {slug!r}: source {line.strip()!r} is not '- Title | https://...'")
            sources.append(DocsSource(title=title.strip(), url=url.strip()))
        elif ":" in line and not line.startswith((" ", "\t")):
            key, _, value = line.partition(":")
            key = key.strip()
            fields[key] = value.strip()
        elif line.strip():
            raise DataError(f"knowledge note {slug!r}: cannot read front matter line {line!r}")
    body = "\n".join(lines[end + 1 :]).strip()
    keywords = tuple(k.strip() for k in fields.get("keywords", "").split(",") if k.strip())
    missing = [name for name, value in (("title", fields.get("title")), ("sources", sources), ("keywords", keywords), ("body", body)) if not value]
    if missing:
        raise DataError(f"knowledge note {slug!r}: missing {', '.join(missing)}")
    return Note(slug=slug, title=fields["title"], sources=tuple(sources), keywords=keywords, body=body)


@functools.cache
def load_notes() -> tuple[Note, ...]:
    """Every packaged note, sorted by file name."""
    folder = files("finetune_advisor.unsloth_docs").joinpath("knowledge")
    entries = sorted((e for e in folder.iterdir() if e.name.endswith(".md")), key=lambda e: e.name)
    return tuple(parse_note(e.name[: -len(".md")], e.read_text(encoding="utf-8")) for e in entries)


def _document(note: Note) -> Counter[str]:
    counts: Counter[str] = Counter()
    for field, text in (("title", note.title), ("keywords", " ".join(note.keywords)), ("body", note.body)):
        for token in tokens(text):
            counts[token] += FIELD_WEIGHT[field]
    return counts


def search(question: str, notes: tuple[Note, ...], limit: int = 2) -> list[Hit]:
    """The notes that best match `question`, best first; empty when no word matches."""
    query = set(tokens(question))
    docs = [_document(n) for n in notes]
    if not query or not docs:
        return []
    avg_len = sum(sum(d.values()) for d in docs) / len(docs)
    hits = []
    for note, doc in zip(notes, docs):
        length = sum(doc.values())
        score = 0.0
        for term in query:
            tf = doc.get(term, 0)
            if not tf:
                continue
            df = sum(1 for d in docs if term in d)
            idf = math.log(1 + (len(docs) - df + 0.5) / (df + 0.5))
            score += idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * length / avg_len))
        if score >= MIN_SCORE:
            hits.append(Hit(note, score))
    hits.sort(key=lambda h: (-h.score, h.note.slug))
    if not hits:
        return []
    best = hits[0].score
    return [h for h in hits if h.score >= best * RELATIVE_CUTOFF][:limit]


def offline_answer(question: str) -> ParsedAnswer:
    notes = load_notes()
    hits = search(question, notes)
    if not hits:
        topics = "; ".join(n.title for n in notes)
        return ParsedAnswer(answer=f"No packaged note matches this question. The notes cover: {topics}.")
    answer = "\n\n".join(f"## {hit.note.title}\n\n{hit.note.body}" for hit in hits)
    sources = list(dict.fromkeys(s for hit in hits for s in hit.note.sources))
    return ParsedAnswer(answer=answer, sources=sources)


def offline_note(reason: str, reached: bool = False) -> str:
    what = "gave no usable answer" if reached else "were not reached"
    return (
        f"The live Unsloth docs {what}: {reason}. This answer comes from finetune-advisor's "
        "packaged notes, written from the docs; follow the source links for the current text."
    )
