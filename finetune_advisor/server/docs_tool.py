"""`query_docs` as the server registers it: the tool from `finetune_advisor.tools.query_docs`, with the
MCP request Context injected so progress notifications reach the client while the docs are asked, and
the docs' text fenced as quoted external content (`unsloth_docs.reply.fenced`), since a model reads it."""

from __future__ import annotations

from mcp.server.mcpserver import Context

from finetune_advisor.tools import query_docs as core
from finetune_advisor.unsloth_docs.pages import DEFAULT_PAGE
from finetune_advisor.unsloth_docs.reply import fenced


async def query_docs(
    question: core.Question,
    page: core.Page = DEFAULT_PAGE,
    language: core.Language = "en",
    ctx: Context | None = None,
) -> core.DocsAnswer:
    progress = ctx.report_progress if ctx is not None else None
    return fenced(await core.query_docs(question, page, language, progress=progress))


query_docs.__doc__ = core.query_docs.__doc__
