"""Reading the docs' `?ask=` replies: answer, sources, follow-ups, or a refusal."""

from __future__ import annotations

import pytest

from finetune_advisor.errors import DocsReplyError
from finetune_advisor.unsloth_docs import reply as docs_answer
from finetune_advisor.unsloth_docs.reply import DocsSource, parse_reply

BASE = "https://unsloth.ai/docs/get-started/fine-tuning-llms-guide/what-model-should-i-use.md"

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
