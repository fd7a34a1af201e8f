"""certward.server: the mutual-TLS HTTPS service."""
