// Module RecstreamTesting: see docs/architecture.md.
