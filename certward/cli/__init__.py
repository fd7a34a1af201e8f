"""certward.cli."""
