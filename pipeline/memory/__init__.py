"""Memory of past trades: embeddings (fastembed) of every trade in Qdrant, outcomes recorded as trades close,
the nearest closed trades for a new alert, and backfill."""
