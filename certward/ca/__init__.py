"""certward.ca."""
