"""The Unsloth docs' `?ask=` replies, understood: which URL to ask and what came back.

Pure: no I/O, no environment. The reply format is GitBook's (`GET <page>.md?ask=<question>`):
`# <question>`, the answer in Markdown, then optional `# Suggested Follow-up Questions:` and
`# Sources:` sections of `- [text](url)` items. Two short texts stand for "no answer" and
"no question"; anything else (HTML, JSON, the page itself) is not an answer.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urljoin, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict

from finetune_advisor.errors import DocsReplyError, InvalidInputError

DEFAULT_PAGE = "get-started/fine-tuning-llms-guide/what-model-should-i-use"
MAX_PAGE_CHARS = 200
MAX_QUESTION_CHARS = 1000
MAX_ANSWER_CHARS = 8000

# Folder of each language under the docs root; English has none.
LANGUAGE_ROOTS: dict[str, str] = {"en": "", "zh": "zh/", "de": "de/", "fr": "fr/", "jp": "jp/"}

# Translated top-level section slugs (leaf slugs stay English), current slug first, older ones after.
# Translations cannot be found by swapping a prefix: the zh guide lives under kai-shi-shi-yong/, older zh
# pages under kai-shi/. Sources: the zh "what model" page and its links, and the `# Source:` lines of the
# Intel install page listing every language copy (reference/unsloth-docs.md §1.1).
SECTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "get-started": {
        "en": ("get-started",),
        "zh": ("kai-shi-shi-yong", "kai-shi", "kuai-su-kai-shi"),
        "de": ("loslegen", "los-gehts"),
        "fr": ("commencer",),
        "jp": ("hajimeni", "hajimeru", "meru"),
    },
    "basics": {"en": ("basics",), "de": ("grundlagen",), "jp": ("ji-ben",)},
    "models": {"en": ("models",), "fr": ("modeles",), "de": ("modelle",)},
}

PAGE_ACCEPTED = (
    f"a page path relative to the docs root, e.g. '{DEFAULT_PAGE}' "
    "(letters, digits, '-', '_', '.' and '/'; no scheme, host, '..', query, fragment or leading '/')"
)

NO_ANSWER_TEXT = "we couldn't answer this question"
NO_QUESTION_TEXT = "you forgot to pass a question"
_PAGE_FOOTER_TEXT = "querying this documentation"  # the footer of a page's .md, never of an answer

_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_FOLLOW_UPS = re.compile(r"^suggested follow-?up questions\s*:?$", re.IGNORECASE)
_SOURCES = re.compile(r"^sources\s*:?$", re.IGNORECASE)
_ITEM = re.compile(r"^\s*[-*+]\s+\[(?P<text>(?:\\.|[^\]\\])+)\]\(\s*(?P<url><[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\s*\)\s*$")
_LINK = re.compile(r"(?P<bang>!?)\[(?P<text>(?:\\.|[^\]\\])*)\]\(\s*(?P<url><[^>]*>|[^)\s]*)(?P<title>\s+\"[^\"]*\")?\s*\)")
_ESCAPE = re.compile(r"\\(.)")
_MARKDOWN_TYPES = {"text/markdown", "text/x-markdown", "text/plain"}


class DocsSource(BaseModel):
    """A page the answer draws on."""

    model_config = ConfigDict(frozen=True)

    title: str
    url: str


class ParsedAnswer(BaseModel):
    """An answer split into its parts."""

    answer: str
    sources: list[DocsSource] = []
    follow_up_questions: list[str] = []
    truncated: bool = False


def check_question(question: str) -> str:
    """The question, trimmed; refuses blank or over-long ones."""
    text = (question or "").strip()
    accepted = f"a question of 1 to {MAX_QUESTION_CHARS} characters"
    if not text:
        raise InvalidInputError("question", "it is empty", accepted)
    if len(text) > MAX_QUESTION_CHARS:
        raise InvalidInputError("question", f"it is {len(text)} characters long", accepted)
    return text


def check_language(language: str) -> str:
    if language not in LANGUAGE_ROOTS:
        raise InvalidInputError("language", f"{language!r} is not supported", ", ".join(LANGUAGE_ROOTS))
    return language


def check_page(page: str) -> str:
    """A safe relative docs path (without `.md`), or InvalidInputError naming `page` and why."""
    path = (page or "").strip()
    problem = _page_problem(path)
    if problem:
        raise InvalidInputError("page", problem, PAGE_ACCEPTED)
    path = path.rstrip("/")
    return path[: -len(".md")] if path.endswith(".md") else path


def _page_problem(path: str) -> str | None:
    shown = repr(path if len(path) <= 60 else path[:57] + "...")
    if not path:
        return "it is empty"
    if len(path) > MAX_PAGE_CHARS:
        return f"it is {len(path)} characters long (at most {MAX_PAGE_CHARS})"
    if any(unicodedata.category(c) in {"Cc", "Cf", "Zl", "Zp"} for c in path):
        return f"{shown} contains control characters"
    if _SCHEME.match(path) or "://" in path:
        return f"{shown} is a URL; only a path inside the docs is accepted"
    if path.startswith("//"):
        return f"{shown} names a host"
    if path.startswith("/"):
        return f"{shown} is an absolute path"
    if "\\" in path:
        return f"{shown} contains a backslash"
    if "?" in path:
        return f"{shown} contains a query ('?')"
    if "#" in path:
        return f"{shown} contains a fragment ('#')"
    if "%" in path:
        return f"{shown} contains percent-encoding ('%')"
    segments = path.rstrip("/").split("/")
    if any(s in {".", ".."} for s in segments):
        return f"{shown} contains '.' or '..' segments"
    if any(not s for s in segments):
        return f"{shown} contains an empty segment ('//')"
    if not all(_SEGMENT.match(s) for s in segments):
        return f"{shown} contains characters other than letters, digits, '-', '_', '.' and '/'"
    if segments[0] in LANGUAGE_ROOTS:
        return f"{shown} starts with the language folder '{segments[0]}/'; pass the language as 'language'"
    return None


def localized_path(page: str, language: str) -> str:
    """The path under the docs root of `page` in `language`, translating the section slug by table."""
    path = check_page(page)
    language = check_language(language)
    first, _, rest = path.partition("/")
    for section, slugs in SECTIONS.items():
        if any(first in names for names in slugs.values()):
            names = slugs.get(language)
            if not names:
                known = ", ".join(s for s, by_lang in SECTIONS.items() if language in by_lang)
                raise InvalidInputError(
                    "page",
                    f"no {language} path is known for the '{section}' section",
                    f"{language} pages under: {known}; or language 'en'",
                )
            path = names[0] + ("/" + rest if rest else "")
            break
    return LANGUAGE_ROOTS[language] + path


def page_url(docs_url: str, path: str) -> str:
    """`{docs_url}/{path}.md`: the Markdown page that answers `?ask=`."""
    return f"{docs_url.rstrip('/')}/{path}.md"


def public_url(url: str) -> str:
    """`url` without user name or password, safe to show and log."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def parse_reply(body: bytes, content_type: str | None, base_url: str) -> ParsedAnswer:
    """Split an `?ask=` reply into answer, sources and follow-ups; DocsReplyError if it is not one.

    `base_url` (the page asked) resolves relative links. Links other than http(s) are dropped.
    """
    text = _decode(body, content_type)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    heading = _HEADING.match(lines[0]) if lines else None
    answer_lines: list[str] = []
    sources: list[DocsSource] = []
    follow_ups: list[str] = []
    section = "answer"
    for line in lines[1:] if heading else lines:
        title = _HEADING.match(line)
        if title and _FOLLOW_UPS.match(title.group(1)):
            section = "follow"
        elif title and _SOURCES.match(title.group(1)):
            section = "sources"
        elif section == "answer":
            answer_lines.append(line)
        elif item := _ITEM.match(line):
            label = _unescape(item.group("text")).strip()
            if section == "follow" and label not in follow_ups:
                follow_ups.append(label)
            elif section == "sources":
                url = _absolute(item.group("url"), base_url)
                if url and url not in {s.url for s in sources}:
                    sources.append(DocsSource(title=label, url=url))
    answer = "\n".join(answer_lines).strip()
    lowered = answer.lower()
    if lowered.startswith(NO_ANSWER_TEXT):
        raise DocsReplyError("no_answer", "the docs could not answer this question")
    if lowered.startswith(NO_QUESTION_TEXT):
        raise DocsReplyError("no_question", "the docs did not receive the question")
    if not heading:
        raise DocsReplyError("unexpected", "the reply is not the documented '# <question>' Markdown answer")
    if _PAGE_FOOTER_TEXT in lowered:
        raise DocsReplyError("unexpected", "the docs returned the page itself, not an answer")
    if not answer:
        raise DocsReplyError("unexpected", "the reply has no answer text")
    answer, truncated = _truncate(_safe_links(answer, base_url))
    return ParsedAnswer(answer=answer, sources=sources, follow_up_questions=follow_ups, truncated=truncated)


def _decode(body: bytes, content_type: str | None) -> str:
    media, _, params = (content_type or "").partition(";")
    media = media.strip().lower()
    if "html" in media:
        raise DocsReplyError("html", "the reply is an HTML page, not the Markdown answer")
    if media and media not in _MARKDOWN_TYPES:
        raise DocsReplyError("unexpected", f"the reply is {media}, not Markdown")
    charset = "utf-8"
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"')
    try:
        text = body.decode(charset)
    except (LookupError, UnicodeDecodeError):
        raise DocsReplyError("unexpected", f"the reply is not valid {charset} text") from None
    if "\x00" in text:
        raise DocsReplyError("unexpected", "the reply is binary, not text")
    head = text.lstrip()[:1024].lower()
    if head.startswith("<") and ("<html" in head or "<!doctype" in head or "<body" in head):
        raise DocsReplyError("html", "the reply is an HTML page, not the Markdown answer")
    if head.startswith("{") or (head.startswith("[") and head[1:].lstrip()[:1] in {"{", '"', "]"}):
        raise DocsReplyError("unexpected", "the reply is JSON, not the Markdown answer")
    if not head:
        raise DocsReplyError("unexpected", "the reply is empty")
    return text


def _unescape(text: str) -> str:
    return _ESCAPE.sub(r"\1", text)


def _absolute(url: str, base_url: str) -> str | None:
    """`url` made absolute against `base_url`; None unless it is http(s) with a host."""
    url = url.strip().strip("<>").strip()
    if not url:
        return None
    resolved = urljoin(base_url, url)
    parts = urlsplit(resolved)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return None
    return public_url(resolved)


def _safe_links(answer: str, base_url: str) -> str:
    """Relative links made absolute; links to other schemes (javascript:, data:, file:) reduced to their text."""

    def fix(match: re.Match[str]) -> str:
        url = _absolute(match.group("url"), base_url)
        if url is None:
            return match.group("text")
        return f"{match.group('bang')}[{match.group('text')}]({url}{match.group('title') or ''})"

    return _LINK.sub(fix, answer)


def _truncate(answer: str) -> tuple[str, bool]:
    if len(answer) <= MAX_ANSWER_CHARS:
        return answer, False
    cut = answer.rfind("\n\n", 0, MAX_ANSWER_CHARS)
    cut = cut if cut > MAX_ANSWER_CHARS // 2 else MAX_ANSWER_CHARS
    note = f"[Answer truncated at {cut} of {len(answer)} characters; ask a narrower question.]"
    return answer[:cut].rstrip() + "\n\n" + note, True
