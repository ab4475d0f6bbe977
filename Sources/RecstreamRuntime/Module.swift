// Module RecstreamRuntime: see docs/architecture.md.
