"""Key distribution, byte-compatible with Limax: per-group keys derived from master keys."""
