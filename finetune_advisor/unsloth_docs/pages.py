"""Which docs URL a question goes to: the page, its language copy, and the limits on what is sent.

Pure: no I/O, no environment. The docs answer `GET <page>.md?ask=<question>` (GitBook); a page is
a relative path inside the docs, never a URL, so a question can never leave the docs host.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlencode

from finetune_advisor.errors import InvalidInputError

DEFAULT_PAGE = "get-started/fine-tuning-llms-guide/what-model-should-i-use"
MAX_PAGE_CHARS = 200
MAX_QUESTION_CHARS = 1000

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

_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


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


def ask_url(page_url: str, question: str) -> str:
    """The `?ask=` URL of a question on a page."""
    return f"{page_url}?{urlencode({'ask': question})}"
