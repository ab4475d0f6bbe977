// Module RecstreamQueryAPI: see docs/architecture.md.
