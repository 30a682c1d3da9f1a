"""Item pipelines: hash (in memory) -> match against known lists -> store digests and hits."""
