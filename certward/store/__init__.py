"""certward.store."""
