"""The domain of finetune-advisor: catalog, estimator, licence rules, ranking, and thin adapters.

Nothing here imports `mcp`; the server in `finetune_advisor.server` is a thin shell around it.
"""
