"""Reading the docs' `?ask=` replies: answer, sources, follow-ups, or a refusal."""

from __future__ import annotations

import time

import pytest
from fake_docs import hostile_answer

from finetune_advisor.errors import DocsReplyError
from finetune_advisor.unsloth_docs import reply as docs_answer
from finetune_advisor.unsloth_docs.reply import DocsSource, parse_reply

GUIDE = "https://unsloth.ai/docs/get-started/fine-tuning-llms-guide"
BASE = f"{GUIDE}/what-model-should-i-use.md"

# The layout GitBook's markdownAsk route produces (reference/unsloth-docs.md §2.2).
REPLY = """# Which model for 500 rows?

With 300 to 1,000 good rows either **base** or **instruct** works. See the
[requirements](/docs/get-started/fine-tuning-for-beginners/unsloth-requirements.md#system-requirements) and the
[catalog](https://unsloth.ai/docs/get-started/unsloth-model-catalog.md).

```python
model = FastLanguageModel.from_pretrained("unsloth/Qwen2.5-7B-Instruct-unsloth-bnb-4bit")
```

# Suggested Follow-up Questions:

If you need more information, consider asking one of these follow-up questions by performing an HTTP GET request on the URL:

- [How much VRAM does a 7B model need?](https://unsloth.ai/docs?ask=How%20much%20VRAM%20does%20a%207B%20model%20need%3F)
- [What is \\[dynamic\\] 4-bit?](https://unsloth.ai/docs?ask=What%20is%204-bit%3F&goal=x)

# Sources:

- [What model should I use?](https://unsloth.ai/docs/get-started/fine-tuning-llms-guide/what-model-should-i-use.md)
- [Unsloth Requirements](/docs/get-started/fine-tuning-for-beginners/unsloth-requirements.md)
- [Evil](javascript:alert(1))
- [What model should I use?](https://unsloth.ai/docs/get-started/fine-tuning-llms-guide/what-model-should-i-use.md)
"""


def test_reply_is_split_into_answer_sources_and_follow_ups() -> None:
    parsed = parse_reply(REPLY.encode(), "text/markdown; charset=utf-8", BASE)
    assert parsed.answer.startswith("With 300 to 1,000 good rows")
    assert "# Sources" not in parsed.answer and "Follow-up" not in parsed.answer
    assert "Which model for 500 rows?" not in parsed.answer  # the echoed question heading is dropped
    assert 'from_pretrained("unsloth/Qwen2.5-7B-Instruct-unsloth-bnb-4bit")' in parsed.answer
    assert parsed.follow_up_questions == ["How much VRAM does a 7B model need?", "What is [dynamic] 4-bit?"]
    assert parsed.sources == [
        DocsSource(title="What model should I use?", url=BASE),
        DocsSource(
            title="Unsloth Requirements",
            url="https://unsloth.ai/docs/get-started/fine-tuning-for-beginners/unsloth-requirements.md",
        ),
    ]
    assert not parsed.truncated


def test_links_in_the_answer_become_absolute() -> None:
    parsed = parse_reply(REPLY.encode(), "text/markdown", BASE)
    assert (
        "[requirements](https://unsloth.ai/docs/get-started/fine-tuning-for-beginners/unsloth-requirements.md"
        "#system-requirements)" in parsed.answer
    )
    assert "[catalog](https://unsloth.ai/docs/get-started/unsloth-model-catalog.md)" in parsed.answer


def test_links_to_other_schemes_keep_only_their_text() -> None:
    body = "# q\n\nClick [here](javascript:alert(1)) or ![img](data:image/png;base64,AAAA) or [file](file:///etc/passwd).\n"
    answer = parse_reply(body.encode(), "text/markdown", BASE).answer
    assert "javascript" not in answer and "data:" not in answer and "file:" not in answer
    assert "Click here" in answer and "or img or file." in answer


def test_older_layout_without_follow_ups_and_sources_first() -> None:
    body = "# q\n\nAnswer text.\n\n# Sources:\n\n- [A](https://unsloth.ai/docs/a.md)\n"
    parsed = parse_reply(body.encode(), None, BASE)
    assert parsed.answer == "Answer text."
    assert parsed.follow_up_questions == []
    assert [s.title for s in parsed.sources] == ["A"]


def test_answer_without_sources() -> None:
    parsed = parse_reply(b"# q\n\nJust this.\n", "text/plain", BASE)
    assert parsed.answer == "Just this." and parsed.sources == []


@pytest.mark.parametrize(
    ("body", "content_type", "kind"),
    [
        (b"We couldn't answer this question.", "text/markdown; charset=utf-8", "no_answer"),
        (b"# q\n\nWe couldn't answer this question.\n", "text/markdown", "no_answer"),
        (
            b"You forgot to pass a question in the `?ask=` parameter. Append a question to the URL.",
            "text/markdown",
            "no_question",
        ),
        (b"<!DOCTYPE html><html><body>Unsloth</body></html>", "text/html; charset=utf-8", "html"),
        (b"<!doctype html>\n<html lang=en><head></head></html>", "text/markdown", "html"),
        (b'{"answer": "x"}', "application/json", "unexpected"),
        (b'{"answer": "x"}', "text/plain", "unexpected"),
        (b"", "text/markdown", "unexpected"),
        (b"   \n\n", "text/markdown", "unexpected"),
        (b"\xff\xfe\x00b\x00a\x00d", "text/markdown", "unexpected"),
        (b"# q\n\x00\x01binary", "text/markdown", "unexpected"),
        (b"Internal error, try later", "text/plain", "unexpected"),
        (b"# q\n\n# Sources:\n\n- [A](https://unsloth.ai/docs/a.md)\n", "text/markdown", "unexpected"),
        (
            b"# What model should I use?\n\nPage text.\n\n## Agent Instructions: Querying This Documentation\n",
            "text/markdown",
            "unexpected",
        ),
    ],
)
def test_replies_that_are_not_answers_are_refused(body: bytes, content_type: str, kind: str) -> None:
    with pytest.raises(DocsReplyError) as err:
        parse_reply(body, content_type, BASE)
    assert err.value.kind == kind
    assert str(err.value)


def test_very_long_answers_are_truncated_with_a_note() -> None:
    paragraph = "word " * 200
    body = "# q\n\n" + "\n\n".join([paragraph] * 20) + "\n\n# Sources:\n\n- [A](https://unsloth.ai/docs/a.md)\n"
    parsed = parse_reply(body.encode(), "text/markdown", BASE)
    assert parsed.truncated
    assert len(parsed.answer) <= docs_answer.MAX_ANSWER_CHARS + 200
    assert parsed.answer.endswith("ask a narrower question.]")
    assert [s.title for s in parsed.sources] == ["A"]


def _filled(unit: str, head: str = "# q\n\nAnswer.\n", size: int = 256 * 1024) -> bytes:
    return (head + unit * ((size - len(head)) // len(unit))).encode()


HOSTILE = {  # each made the old parser take seconds to minutes at a few KiB; all are 256 KiB here
    "heading of spaces": ("# a" + " " * (256 * 1024 - 6) + "b\n").encode(),
    "heading of spaces in the answer": _filled(" ", "# q\n\nok\n# a")[:-1] + b"b",
    "link openers": _filled("[]("),
    "image openers": _filled("![]("),
    "open brackets": _filled("["),
    "escaped brackets": _filled("[\\["),
    "unclosed destinations": _filled("[](a"),
    "unclosed titles": _filled('[a](b "'),
    "open parentheses": _filled("[](("),
    "closers": _filled("]("),
    "autolink openers": _filled("<a:"),
    "backslashes": _filled("\\"),
    "blank lines": b"\n" * (256 * 1024 - 12) + b"# q\n\nok\n",
    "heading lines": _filled("# \n"),
    "one source repeated": _filled("- [a](https://x.org/1)\n", "# q\n\nok\n# Sources:\n"),
    "escapes in a source": _filled("\\]", "# q\n\nok\n# Sources:\n- ["),
    "all of it": ("# q\n\n" + hostile_answer(256 * 1024 - 5)).encode(),
}


@pytest.mark.parametrize("body", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_256_kib_reply_is_read_in_under_half_a_second(body: bytes) -> None:
    assert len(body) >= 255 * 1024
    started = time.perf_counter()
    try:
        parse_reply(body, "text/markdown", BASE)
    except DocsReplyError:
        pass  # refusing it is as good as reading it; hanging is not
    assert time.perf_counter() - started < 0.5


def test_sources_and_follow_ups_are_deduplicated_and_capped() -> None:
    follow = "".join(f"- [Q{i % 30}?](https://unsloth.ai/docs?ask=q)\n" for i in range(200))
    sources = "- [First title](https://unsloth.ai/docs/a.md)\n- [Second title](/docs/a.md)\n"
    sources += "".join(f"- [P{i}](https://unsloth.ai/docs/p{i}.md)\n" for i in range(50))
    body = f"# q\n\nok\n# Suggested Follow-up Questions:\n{follow}# Sources:\n{sources}"
    parsed = parse_reply(body.encode(), "text/markdown", BASE)
    assert parsed.follow_up_questions == [f"Q{i}?" for i in range(docs_answer.MAX_FOLLOW_UPS)]
    assert len(parsed.sources) == docs_answer.MAX_SOURCES
    assert parsed.sources[0] == DocsSource(title="First title", url="https://unsloth.ai/docs/a.md")  # first title wins
    assert len({s.url for s in parsed.sources}) == len(parsed.sources)


def test_long_labels_are_cut() -> None:
    body = f"# q\n\nok\n# Sources:\n- [{'t' * 5000}](https://unsloth.ai/docs/a.md)\n"
    (source,) = parse_reply(body.encode(), "text/markdown", BASE).sources
    assert len(source.title) == docs_answer.MAX_LABEL_CHARS and source.title.endswith("…")


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("[wiki](https://en.wikipedia.org/wiki/Foo_(bar))", "[wiki](https://en.wikipedia.org/wiki/Foo_(bar))"),
        ('[rel](../c.md "t")', '[rel](https://unsloth.ai/docs/get-started/c.md "t")'),
        ("[esc \\[x\\]](javascript:x)", "esc \\[x\\]"),
        ("[a [b] c](javascript:y)", "[a [b] c] (javascript:y)"),  # not read as a link, but no longer one
        ("[x](<javascript:z>)", "x"),
        ("<javascript:alert(1)> <https://unsloth.ai/docs>", "javascript:alert(1) <https://unsloth.ai/docs>"),
        ("[e](java&#115;cript:1) [f](javascript&colon;1)",  # entities: no scheme to a URL parser, so a path here
         f"[e]({GUIDE}/java&#115;cript:1) [f]({GUIDE}/javascript&colon;1)"),
        ("[p](http://x:99999/) [v](<http://[::1/>)", "[p](http://x:99999/) v"),  # broken URLs: no crash
    ],
)
def test_links_in_tricky_shapes(markdown: str, expected: str) -> None:
    assert parse_reply(f"# q\n\n{markdown}\n".encode(), "text/markdown", BASE).answer == expected


@pytest.mark.parametrize(
    "charset",
    ["x-klingon", "undefined", "punycode", "idna", "utf-7", "unicode_escape", "rot13", "base64", "\x00", "a" * 5000],
)
def test_a_reply_in_a_charset_that_is_not_a_plain_text_encoding_is_refused(charset: str) -> None:
    """Issue 13 (8): `charset=undefined` raised a bare UnicodeError out of the parser; punycode decoding is
    quadratic; unicode_escape and utf-7 rewrite the text they decode."""
    with pytest.raises(DocsReplyError) as err:
        parse_reply(b"# q\n\nUse rank 16.\n", f"text/markdown; charset={charset}", BASE)
    assert err.value.kind == "unexpected" and "is not a text encoding read here" in str(err.value)
    assert len(str(err.value)) < 200


@pytest.mark.parametrize(
    ("charset", "encoding", "text"),
    [("ISO-8859-1", "latin-1", "Über rank 16."), ("Shift_JIS", "shift_jis", "ランク 16."), ('"UTF-16"', "utf-16", "Über ランク 16.")],
)
def test_a_reply_in_a_named_text_charset_is_read(charset: str, encoding: str, text: str) -> None:
    body = f"# q\n\n{text}\n".encode(encoding)
    assert parse_reply(body, f"text/markdown; charset={charset}", BASE).answer == text
