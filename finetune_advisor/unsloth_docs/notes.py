"""The packaged knowledge notes (`knowledge/*.md`), the docs pages they do not cover
(`knowledge/pages.toml`), and the offline answer built from them.

A note is Markdown with front matter: title, sources as `- Title | URL`, keywords (the topics it
answers, English and Chinese). A page is a title, a docs URL and keywords. Which note covers a
question is decided by `matching` (scored, with a threshold); a question no note covers gets
`covered=False` and a short pointer to the most relevant docs page, never an unrelated note. Pure
apart from `library()`, which reads the package data once.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from importlib.resources import files

from finetune_advisor.errors import DataError
from finetune_advisor.unsloth_docs import matching
from finetune_advisor.unsloth_docs.reply import DocsSource, ParsedAnswer

_URL = re.compile(r"^https?://\S+$")
_DOCS_URL = re.compile(r"^https://(unsloth\.ai/docs|docs\.unsloth\.ai)(/[A-Za-z0-9._~/-]*)?$")


@dataclass(frozen=True)
class Note:
    slug: str
    title: str
    sources: tuple[DocsSource, ...]
    keywords: tuple[str, ...]
    body: str


@dataclass(frozen=True)
class Page:
    """A docs page the notes do not cover, named to questions about its topic."""

    title: str
    url: str
    keywords: tuple[str, ...]


@dataclass(frozen=True)
class OfflineAnswer:
    parsed: ParsedAnswer
    covered: bool


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


def parse_pages(text: str) -> tuple[Page, ...]:
    """The `[[page]]` tables of pages.toml; DataError naming the entry if one is malformed."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DataError(f"knowledge pages: not valid TOML ({exc})") from None
    if set(data) != {"page"} or not isinstance(data["page"], list):
        raise DataError("knowledge pages: expected only [[page]] tables")
    pages = []
    for n, entry in enumerate(data["page"], 1):
        where = f"knowledge page {n} ({entry.get('title', '?')!r})" if isinstance(entry, dict) else f"knowledge page {n}"
        if not isinstance(entry, dict) or set(entry) != {"title", "url", "keywords"}:
            raise DataError(f"{where}: needs exactly title, url and keywords")
        title, url, keywords = entry["title"], entry["url"], entry["keywords"]
        if not isinstance(title, str) or not title.strip():
            raise DataError(f"{where}: title must be a non-empty string")
        if not isinstance(url, str) or not _DOCS_URL.match(url):
            raise DataError(f"{where}: url must be a page under https://unsloth.ai/docs or https://docs.unsloth.ai")
        if not isinstance(keywords, list) or not keywords or not all(isinstance(k, str) and k.strip() for k in keywords):
            raise DataError(f"{where}: keywords must be a non-empty list of non-empty strings")
        pages.append(Page(title=title.strip(), url=url, keywords=tuple(k.strip() for k in keywords)))
    return tuple(pages)


@dataclass(frozen=True)
class Library:
    """The notes and pages with their matching index; note docs are keyed by slug, page docs by URL."""

    notes: tuple[Note, ...]
    pages: tuple[Page, ...]
    index: matching.Index
    note_docs: tuple[matching.Doc, ...]
    page_docs: tuple[matching.Doc, ...]

    @classmethod
    def build(cls, notes: tuple[Note, ...], pages: tuple[Page, ...]) -> Library:
        vocabulary = matching.cjk_words([*(k for n in notes for k in n.keywords), *(k for p in pages for k in p.keywords)])
        note_docs = tuple(matching.document(n.slug, n.keywords, n.title + "\n" + n.body, vocabulary) for n in notes)
        page_docs = tuple(matching.document(p.url, p.keywords, p.title, vocabulary) for p in pages)
        return cls(notes, pages, matching.Index(note_docs, vocabulary), note_docs, page_docs)


@functools.cache
def library() -> Library:
    """Every packaged note (sorted by file name) and page, read and indexed once."""
    folder = files("finetune_advisor.unsloth_docs").joinpath("knowledge")
    entries = sorted((e for e in folder.iterdir() if e.name.endswith(".md")), key=lambda e: e.name)
    notes = tuple(parse_note(e.name[: -len(".md")], e.read_text(encoding="utf-8")) for e in entries)
    pages = parse_pages(folder.joinpath("pages.toml").read_text(encoding="utf-8"))
    return Library.build(notes, pages)


def load_notes() -> tuple[Note, ...]:
    return library().notes


def covering_notes(question: str, lib: Library | None = None) -> list[Note]:
    """The notes that cover `question`, best first (at most two); empty when none does."""
    lib = lib or library()
    by_slug = {n.slug: n for n in lib.notes}
    return [by_slug[m.key] for m in lib.index.covering(question, lib.note_docs)]


def suggested_page(question: str, lib: Library | None = None) -> DocsSource | None:
    """The docs page most relevant to a question the notes do not cover: a listed page, or a note's own page."""
    lib = lib or library()
    own = {d.key: next((s for s in n.sources if _DOCS_URL.match(s.url)), n.sources[0]) for d, n in zip(lib.note_docs, lib.notes)}
    listed = {p.url: DocsSource(title=p.title, url=p.url) for p in lib.pages}
    found = lib.index.suggest(question, lib.page_docs + lib.note_docs)
    return None if found is None else listed.get(found.key) or own[found.key]


def offline_answer(question: str) -> OfflineAnswer:
    notes = covering_notes(question)
    if not notes:
        page = suggested_page(question)
        where = f", or see [{page.title}]({page.url})" if page else ""
        text = f"The offline notes do not cover this; ask again online{where}."
        return OfflineAnswer(ParsedAnswer(answer=text, sources=[page] if page else []), covered=False)
    answer = "\n\n".join(f"## {note.title}\n\n{note.body}" for note in notes)
    sources = list(dict.fromkeys(s for note in notes for s in note.sources))
    return OfflineAnswer(ParsedAnswer(answer=answer, sources=sources), covered=True)


def offline_note(reason: str, reached: bool = False) -> str:
    what = "gave no usable answer" if reached else "were not reached"
    return (
        f"The live Unsloth docs {what}: {reason}. This answer comes from finetune-advisor's "
        "packaged notes, written from the docs; follow the source links for the current text."
    )
