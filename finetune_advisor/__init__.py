"""The domain of finetune-advisor: catalog, estimator, licence rules, ranking, and thin adapters.

Nothing here imports `mcp`; the server in `finetune_advisor.server` is a thin shell around it.
"""

__version__ = "0.1.0"  # the single source of the version (pyproject reads it)
