"""What a plan needs to know about the training data: rows and tokens per row (pure)."""

from __future__ import annotations

import math

from pydantic import BaseModel, Field

from finetune_advisor.errors import InvalidInputError
from finetune_advisor.vocabulary import check_range


class DatasetFacts(BaseModel):
    """Rows, their mean tokens and, when counted, their longest."""

    rows: int
    tokens_per_row: float = Field(description="Mean tokens per row, chat template included.")
    longest_row: int | None = Field(description="Tokens in the longest row; null when only the mean is known.")
    counted: str = Field(description="How lengths are known: given, counted (tokenizer) or estimated.")
    lengths: tuple[int, ...] = Field(default=(), exclude=True)  # every row's length, when counted

    @property
    def total_tokens(self) -> float:
        return self.rows * self.tokens_per_row

    def row_tokens(self, seq_len: int, batch: int = 1, padded: bool = False) -> float:
        """Tokens a row costs in a step: the mean length, cut at seq_len; with padded batches of `batch` rows, the
        expected longest of `batch` rows drawn at random, when the rows were counted (else the mean, a lower bound)."""
        if not (padded and batch > 1 and self.lengths):
            return min(self.tokens_per_row, seq_len)
        ordered = sorted(min(n, seq_len) for n in self.lengths)
        n = len(ordered)
        # P(longest of `batch` draws is the i-th shortest row) = (i/n)^batch - ((i-1)/n)^batch
        return sum(x * ((i / n) ** batch - ((i - 1) / n) ** batch) for i, x in enumerate(ordered, 1))

    def truncated(self, seq_len: int) -> int | None:
        """Rows longer than seq_len (cut by the trainer); None when the lengths are unknown."""
        if self.lengths:
            return sum(1 for n in self.lengths if n > seq_len)
        return none_cut(self.longest_row, seq_len)


def none_cut(longest_row: int | None, seq_len: int) -> int | None:
    """0 when the longest row fits seq_len (no row is cut); None when that is not known."""
    return 0 if longest_row is not None and longest_row <= seq_len else None


def given(rows: int | None, tokens_per_row: float | None, longest_row: int | None = None) -> DatasetFacts | None:
    """The user's own figures: rows and their mean tokens, both or neither, and the longest row if known (alone it
    still sets the length to train at: `PlanRequest.longest_row`)."""
    if longest_row is not None:
        check_range("longest_row", longest_row)
    if rows is None and tokens_per_row is None:
        return None
    if rows is None or tokens_per_row is None:
        missing = "dataset_rows" if rows is None else "tokens_per_row"
        raise InvalidInputError(missing, "rows and tokens per row go together", "both dataset_rows and tokens_per_row, or neither")
    check_range("dataset_rows", rows)
    if rows < 1:  # the bound allows 0 for recommend_model ("no data yet"); a plan needs rows to count steps from
        raise InvalidInputError("dataset_rows", "0 rows leave nothing to train on", "at least 1 row")
    check_range("tokens_per_row", tokens_per_row)
    if longest_row is not None and longest_row < tokens_per_row:
        raise InvalidInputError("longest_row", f"{longest_row} is shorter than the mean row (tokens_per_row {tokens_per_row:g})",
                                "the longest row's tokens, at least tokens_per_row")
    return DatasetFacts(rows=rows, tokens_per_row=tokens_per_row, longest_row=longest_row,
                        counted="given" if longest_row is not None else "given (mean only)")


def counted(lengths: list[int], how: str) -> DatasetFacts:
    """Facts from every row's token count."""
    if not lengths:
        raise InvalidInputError("dataset", "the file has no rows with text", "a JSONL file with one example per line")
    return DatasetFacts(rows=len(lengths), tokens_per_row=sum(lengths) / len(lengths), longest_row=max(lengths),
                        counted=how, lengths=tuple(lengths))


def round_up(tokens: int, step: int = 64) -> int:
    return int(math.ceil(tokens / step) * step)
