"""Step 2, the seed sieve: the two-stage search (search), its shard and aggregation files (shards)."""
