"""What the tools share to turn a user's words into core values: the model (the catalog, then the
Hub) and the GPU (a name, a memory size, or the machine's own). It may call adapters; the core may
not call it."""
