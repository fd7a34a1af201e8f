"""certward: a self-hosted trust service.

Private CA, certificate manager, KMS and key distribution behind mutual TLS.
"""

__version__ = "0.1.0"
