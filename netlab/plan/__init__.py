"""The plan: the contract between compile and the backends, its lookups and renderings."""
