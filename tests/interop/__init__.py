"""Interop tests: what certward issues, checked by the real openssl and curl."""
