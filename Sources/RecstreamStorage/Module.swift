// Module RecstreamStorage: see docs/architecture.md.
