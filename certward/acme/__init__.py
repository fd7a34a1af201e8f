"""The ACME server (RFC 8555): accounts, orders, authorizations, challenges and certificates.

Each (CA, profile) pair that ``[acme]`` enables is one ACME directory; the HTTP
edge is :mod:`certward.server.routes.acme`. Problems are the ``Acme*`` classes of
:mod:`certward.errors`, each carrying its ``urn:ietf:params:acme:error:*`` type.
"""
