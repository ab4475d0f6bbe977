// Module RecstreamKafka: see docs/architecture.md.
