"""Which URL a docs question goes to: page paths, languages and the limits on what is sent."""

from __future__ import annotations

from typing import get_args

import pytest

from finetune_advisor.errors import InvalidInputError
from finetune_advisor.tools.query_docs import Language
from finetune_advisor.unsloth_docs import pages as docs_answer
from finetune_advisor.unsloth_docs.pages import (
    DEFAULT_PAGE,
    check_page,
    check_question,
    localized_path,
    page_url,
)

@pytest.mark.parametrize(
    ("page", "language", "path"),
    [
        (DEFAULT_PAGE, "en", "get-started/fine-tuning-llms-guide/what-model-should-i-use"),
        (DEFAULT_PAGE, "zh", "zh/kai-shi-shi-yong/fine-tuning-llms-guide/what-model-should-i-use"),
        (DEFAULT_PAGE, "de", "de/loslegen/fine-tuning-llms-guide/what-model-should-i-use"),
        (DEFAULT_PAGE, "fr", "fr/commencer/fine-tuning-llms-guide/what-model-should-i-use"),
        (DEFAULT_PAGE, "jp", "jp/hajimeni/fine-tuning-llms-guide/what-model-should-i-use"),
        # a zh path (current or older slug) asked in English resolves by its leaf path
        ("kai-shi-shi-yong/fine-tuning-llms-guide/what-model-should-i-use", "en", DEFAULT_PAGE),
        ("kai-shi/fine-tuning-for-beginners/unsloth-requirements", "zh", "zh/kai-shi-shi-yong/fine-tuning-for-beginners/unsloth-requirements"),
        ("basics/chat-templates", "en", "basics/chat-templates"),
        ("basics/chat-templates", "de", "de/grundlagen/chat-templates"),
        ("get-started/unsloth-model-catalog.md", "en", "get-started/unsloth-model-catalog"),
        ("get-started/", "zh", "zh/kai-shi-shi-yong"),
        ("new/some-page", "zh", "zh/new/some-page"),  # unknown section: the path as given, in that language
    ],
)
def test_page_paths_per_language_come_from_the_table(page: str, language: str, path: str) -> None:
    assert localized_path(page, language) == path


def test_zh_is_not_a_prefix_swap() -> None:
    assert localized_path(DEFAULT_PAGE, "zh") != "zh/" + DEFAULT_PAGE


def test_a_section_without_a_known_translation_is_refused_naming_page() -> None:
    with pytest.raises(InvalidInputError) as err:
        localized_path("basics/chat-templates", "zh")
    assert err.value.field == "page"
    assert "no zh path is known for the 'basics' section" in str(err.value)
    assert "get-started" in str(err.value)


def test_unsupported_language_lists_the_accepted_ones() -> None:
    with pytest.raises(InvalidInputError) as err:
        localized_path(DEFAULT_PAGE, "ja")
    assert str(err.value) == "Invalid 'language': 'ja' is not supported. Accepted: en, zh, de, fr, jp."


def test_the_tool_schema_offers_exactly_the_languages_of_the_table() -> None:
    assert set(get_args(get_args(Language)[0])) == set(docs_answer.LANGUAGE_ROOTS)


@pytest.mark.parametrize(
    ("page", "why"),
    [
        ("https://evil", "is a URL"),
        ("http://evil.com/docs/x", "is a URL"),
        ("javascript:alert(1)", "is a URL"),
        ("//evil.com/x", "names a host"),
        ("/etc/passwd", "absolute path"),
        ("../../etc/passwd", "'..'"),
        ("get-started/../../secret", "'..'"),
        ("./get-started", "'..'"),
        ("a?b=c", "query"),
        ("a#b", "fragment"),
        ("%2e%2e/", "percent-encoding"),
        ("get-started%2F..%2Fx", "percent-encoding"),
        ("a\\b", "backslash"),
        ("a\nb", "control characters"),
        ("a\x00b", "control characters"),
        ("a\u202eb", "control characters"),
        ("a//b", "empty segment"),
        ("a b", "characters other than"),
        ("été/x", "characters other than"),
        ("-rf/x", "characters other than"),
        ("zh/kai-shi-shi-yong/x", "language folder"),
        ("", "empty"),
        ("   ", "empty"),
        ("a/" * 150, "characters long"),
    ],
)
def test_hostile_or_malformed_pages_are_refused_naming_page(page: str, why: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        check_page(page)
    assert err.value.field == "page"
    assert str(err.value).startswith("Invalid 'page': ")
    assert why in str(err.value)
    assert "Accepted: a page path relative to the docs root" in str(err.value)


def test_question_bounds() -> None:
    assert check_question("  What rank?  ") == "What rank?"
    for bad in ("", "   \n", "x" * 1001):
        with pytest.raises(InvalidInputError) as err:
            check_question(bad)
        assert err.value.field == "question" and "1 to 1000 characters" in str(err.value)
    assert len(check_question("x" * 1000)) == 1000


def test_page_url() -> None:  # URLs shown without credentials: tests/test_redaction.py
    assert page_url("https://unsloth.ai/docs/", "zh/x") == "https://unsloth.ai/docs/zh/x.md"
