"""Does a packaged note, or a docs page, cover a question? Scored matching with a threshold, in
English and Chinese. Pure: no I/O.

A text becomes terms. English: lower-cased words without stop words, through a light suffix stemmer
("merging", "merged", "merges" and "merge" meet); identifiers such as `save_pretrained_gguf` stay
whole. Chinese (any CJK run): at each position the longest known word, known words being the CJK
words of the notes' and pages' keywords; unknown characters are cut into two-character terms, so a
question about something no note knows still weighs what it says.

Each question term weighs its rarity across the notes (IDF; a term no note uses weighs as much as
the rarest), times GENERIC_FACTOR for words that name no topic ("fine-tune", "model", model family
names with their versions and sizes such as "qwen3" and "14b", a GPU's memory such as "24gb", bare numbers). A document scores the
weighted share of the question it answers: a term counts fully when it completes one of the
document's keyword phrases (every word of the phrase is in the question), BODY_CREDIT when only its
title or body has it. It covers the question when the score reaches COVERED and the question
completes a phrase that names a topic: one with a non-generic term, or a model's family and version
("gemma 4"). Sharing a word with a note's text, or one word of a phrase ("function" of "reward
function"), is not coverage. The constants were set on the questions in
tests/unsloth_docs/test_matching.py, part of which were written after a first tuning to measure it.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

COVERED = 0.55  # share of the question a note must answer
SUGGEST = 0.3  # share a docs page must match to be named for a question the notes do not cover
BODY_CREDIT = 0.5  # a term found only in a document's body
GENERIC_FACTOR = 0.2
RELATIVE_CUTOFF = 0.75  # notes scoring under this share of the best one are left out
PAIR_SHARE = 0.3  # each of two notes answering a two-topic question together answers this share alone
PAIR_COVERED = 0.8  # ... and together they answer this share
UNKNOWN_AS_DF = 1  # a term no note uses weighs as much as one that a single note uses
MAX_CJK_WORD = 8

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
_RUN = re.compile(rf"[a-z0-9]+(?:_[a-z0-9]+)*|[{_CJK}]+")  # identifiers keep their underscores
_IS_CJK = re.compile(rf"[{_CJK}]")
_BITS = re.compile(r"\b(\d+)[- ]bit\b")  # "4-bit", "16 bit" -> "4bit", "16bit"


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOPWORDS = _words(
    "a about actually after all also am an and any anyone are as at be been before best better between but by "
    "can compare compared comparison could did difference differences do does doing done each else etc for from "
    "get gets getting give good has have having help "
    "here how i if in into is it its just kind know let like look looking make me might more most much many my "
    "need needed needs no not now of on once one only or other our over please possible properly right "
    "say see set setup several should so some something still such sure tell than thank thanks that the their them then "
    "there these they thing things this those through to too try trying up us use used using very via "
    "want wanted was way we well were what when where whether which while who why will with without work "
    "working works would versus vs yes you your"
)
# Words that name no docs topic: what every question is about (fine-tuning a model), and model family
# names, which a question mentions whatever it asks ("VRAM for Llama 3.1 8B" is about VRAM).
_FAMILIES = ("llama", "qwen", "gemma", "mistral", "mixtral", "phi", "deepseek", "gpt", "falcon", "yi", "granite", "olmo",
             "smollm", "tinyllama", "nemotron", "glm", "kimi")
_GENERIC_WORDS = (
    "fine tune finetune train model unsloth llm ai custom own new configure 微调 训练 模型 大模型 自己 oss "
    + " ".join(_FAMILIES)
)
CJK_STOPWORDS = _words(
    "怎么 怎样 怎么样 如何 什么 哪个 哪些 哪种 为什么 请问 可以 能否 能不能 应该 需要 一个 这个 那个 "
    "没有 还是 是否 多少 如果 时候 进行 怎么办 一下 比较 使用 用于 我们 你们 他们 现在 已经 有没有 "
    "的话 之后 之前 以后 以前 吗 呢 吧 啊 呀 嘛 的 了 是 在 和 与 或 我 你 他 她 它 把 给 让 会 都 也 "
    "就 还 很 最 更 对 用 要 有 个 一 这 那 么 为 成 到 上 下 中 后 能 该 想 来 去 着 过 被 将 从 "
    "及 等 其 并 而 得 地 之 于 以 好 做 请 条 设置 设定 设 选 写 运行 跑 实现 操作 弄 搞 办"
)


def cjk_words(texts: Iterable[str]) -> frozenset[str]:
    """The words Chinese questions are cut into: the CJK runs of `texts` (keywords, written with a
    space between words: "数据集 大小"), less their stop words and generic words ("需要多少显存"
    gives "显存"). Single-character stop words are kept inside a word here ("选择")."""
    return frozenset(
        segment
        for text in texts
        for run in _RUN.findall(text.lower())
        if _IS_CJK.match(run)
        for segment in _cjk_segments(run, frozenset(), single_stops=False)
        if 2 <= len(segment) <= MAX_CJK_WORD
    )


def terms(text: str, vocabulary: frozenset[str] = frozenset()) -> list[str]:
    """`text` as matching terms, in order, repeats kept."""
    out: list[str] = []
    for run in _RUN.findall(_BITS.sub(r"\1bit", text.lower())):
        if _IS_CJK.match(run):
            out += _cjk_terms(run, vocabulary)
        elif run not in STOPWORDS and (len(run) > 1 or run.isdigit()) and (stem := _stem(run)) not in _STOP_STEMS:
            out.append(stem)
    return out


def _stem(word: str) -> str:
    """Plural, -ing, -ed, -ization and a final -e off: enough for the words of these notes to meet."""
    if word.isdigit() or "_" in word:
        return word
    if len(word) > 4 and word.endswith("ies"):
        word = word[:-3] + "y"
    elif len(word) > 5 and word.endswith("ing"):
        word = word[:-3]
    elif len(word) > 4 and word.endswith("ed") and not word.endswith("eed"):
        word = word[:-2]
    elif len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "is")):
        word = word[:-1]
    for suffix in ("ization", "isation"):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            word = word[: -len(suffix)] + "iz"
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    return word


def _cjk_terms(run: str, vocabulary: frozenset[str]) -> list[str]:
    """Known words (longest first) and, for what is left, two-character pieces; stop words dropped."""
    out: list[str] = []
    for segment in _cjk_segments(run, vocabulary):
        known = segment in vocabulary or segment in GENERIC
        out += [segment] if known else [segment[j : j + 2] for j in range(0, len(segment), 2)]
    return out


def _cjk_segments(run: str, vocabulary: frozenset[str], single_stops: bool = True) -> list[str]:
    """`run` cut into known words (the longest at each position) and runs of unknown characters,
    without stop words (single-character ones only when `single_stops`)."""
    out: list[str] = []
    unknown = ""
    i = 0
    while i < len(run):
        word = next(
            (run[i : i + n] for n in range(min(MAX_CJK_WORD, len(run) - i), 1, -1)
             if run[i : i + n] in vocabulary or run[i : i + n] in CJK_STOPWORDS or run[i : i + n] in GENERIC),
            None,
        )  # fmt: skip
        if word is None and (run[i] not in CJK_STOPWORDS or not single_stops):
            unknown += run[i]
            i += 1
            continue
        out += [unknown] if unknown else []
        unknown = ""
        word = word or run[i]
        if word not in CJK_STOPWORDS:
            out.append(word)
        i += len(word)
    return out + ([unknown] if unknown else [])


GENERIC = frozenset(_stem(w) if w.isascii() else w for w in _GENERIC_WORDS.split())
_STOP_STEMS = frozenset(_stem(w) for w in STOPWORDS)  # "gives" goes with "give"


# A model's name beside its family: a family with its version run together ("qwen3", "llama3", "phi4") or a size
# ("14b", "500m", "e4b", "a3b"). Like the family names, they say which model, not what is asked.
_VERSIONED = re.compile(r"^(?:%s)\d+$" % "|".join(_FAMILIES))
_SIZE = re.compile(r"^[ae]?\d+[bm]$")
_MEMORY = re.compile(r"^\d+(?:gb|gib)$")  # a GPU's memory ("24gb"): which card, not what is asked


def is_generic(term: str) -> bool:
    return term in GENERIC or term.isdigit() or bool(_VERSIONED.match(term) or _SIZE.match(term) or _MEMORY.match(term))


@dataclass(frozen=True)
class Doc:
    """What a question is matched against: keyword phrases (each a set of terms, all of which a
    question must contain for the phrase to count) and the terms of the title and body."""

    key: str
    phrases: tuple[frozenset[str], ...]
    body: frozenset[str]

    def anchors(self, question: frozenset[str]) -> bool:
        """A keyword phrase the question completes names a topic: it has a non-generic term, or it names a model
        by family and version ("gemma 4": each word generic alone, together a model with its own guide)."""
        return any(p <= question and (not all(map(is_generic, p)) or _names_a_version(p)) for p in self.phrases)

    def credit(self, term: str, question: frozenset[str]) -> float:
        """1 when `term` completes a keyword phrase in `question`, BODY_CREDIT when the text has it."""
        if any(term in p and p <= question for p in self.phrases):
            return 1.0
        return BODY_CREDIT if term in self.body else 0.0


def _names_a_version(phrase: frozenset[str]) -> bool:
    """A family and its version: "gemma 4", "qwen3" or "qwen3.5" (its terms "qwen3" and "5")."""
    family_and_number = len(phrase) >= 2 and any(t.isdigit() for t in phrase) and any(t in GENERIC for t in phrase)
    return family_and_number or any(_VERSIONED.match(t) for t in phrase)


def document(key: str, keywords: Iterable[str], text: str, vocabulary: frozenset[str]) -> Doc:
    """A document from its keyword phrases and its text (title and body)."""
    phrases = (frozenset(terms(keyword, vocabulary)) for keyword in keywords)
    return Doc(key, tuple(dict.fromkeys(p for p in phrases if p)), frozenset(terms(text, vocabulary)))


@dataclass(frozen=True)
class Match:
    key: str
    score: float  # weighted share of the question the document answers, 0 to 1
    anchored: bool  # the question completes one of its keyword phrases that names a topic (`Doc.anchors`)

    @property
    def covered(self) -> bool:
        return self.anchored and self.score >= COVERED


class Index:
    """Scores questions against documents, with term weights from the `weighting` documents."""

    def __init__(self, weighting: Sequence[Doc], vocabulary: frozenset[str]) -> None:
        self.vocabulary = vocabulary
        self.size = len(weighting)
        self.df: dict[str, int] = {}
        for doc in weighting:
            for term in doc.body.union(*doc.phrases):
                self.df[term] = self.df.get(term, 0) + 1

    def weight(self, term: str) -> float:
        """IDF over the weighting documents; a term none of them uses weighs as one used by one."""
        idf = math.log(1 + self.size / (max(self.df.get(term, 0), UNKNOWN_AS_DF) + 0.5))
        return idf * (GENERIC_FACTOR if is_generic(term) else 1.0)

    def match(self, question: str, docs: Sequence[Doc]) -> list[Match]:
        """Every document's match, best first (ties keep the order of `docs`); empty without terms."""
        weights = self._weights(question)
        total = sum(weights.values())
        if not total:
            return []
        asked = frozenset(weights)
        out = []
        for doc in docs:
            credits = {t: doc.credit(t, asked) for t in weights}
            out.append(Match(doc.key, sum(weights[t] * c for t, c in credits.items()) / total, doc.anchors(asked)))
        return sorted(out, key=lambda m: -m.score)

    def covering(self, question: str, docs: Sequence[Doc], limit: int = 2) -> list[Match]:
        """The documents that cover the question, best first, within RELATIVE_CUTOFF of the best; or,
        when none does alone, the best two that cover a two-topic question together."""
        matches = self.match(question, docs)
        found = [m for m in matches if m.covered]
        if found:
            return [m for m in found if m.score >= found[0].score * RELATIVE_CUTOFF][:limit]
        weights = self._weights(question)
        total, asked = sum(weights.values()), frozenset(weights)
        by_key = {d.key: d for d in docs}
        candidates = [m for m in matches if m.anchored and m.score >= PAIR_SHARE][:3]
        for first, second in itertools.combinations(candidates, 2):
            a, b = by_key[first.key], by_key[second.key]
            if sum(w * max(a.credit(t, asked), b.credit(t, asked)) for t, w in weights.items()) / total >= PAIR_COVERED:
                return [first, second][:limit]
        return []

    def suggest(self, question: str, docs: Sequence[Doc]) -> Match | None:
        """The best-matching anchored document, if it reaches SUGGEST (ties: the first in `docs`)."""
        return next((m for m in self.match(question, docs) if m.anchored and m.score >= SUGGEST), None)

    def _weights(self, question: str) -> dict[str, float]:
        return {t: self.weight(t) for t in terms(question, self.vocabulary)}

