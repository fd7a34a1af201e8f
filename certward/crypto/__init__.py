"""certward.crypto."""
