"""Routes that need no client certificate: health and the public CA material."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from certward.access.grants import Permission
from certward.ca.authority import ca_chain
from certward.ca.crl import latest_crl
from certward.crypto.formats import certificate_pem, chain_pem
from certward.server.auth import Caller, caller, runtime_of
from certward.server.schemas import Health

__all__ = ["router"]

router = APIRouter()
_PEM_CERT = "application/x-pem-file"


@router.get("/health", response_model=Health, tags=["service"])
def health(request: Request) -> Health:
    """Whether the service and its database answer (served by the outer layer)."""
    return Health(status="healthy" if runtime_of(request).healthy else "unhealthy")


@router.get("/metrics", tags=["service"], response_class=Response)
def metrics(request: Request, who: Annotated[Caller, Depends(caller)]) -> Response:
    """Prometheus metrics of this process (needs ``metrics.read``)."""
    who.require(Permission.METRICS_READ)
    body = request.app.state.metrics.render()
    return Response(body, media_type="text/plain; version=0.0.4")


@router.get("/ca/{name}/ca.crt", tags=["public"], response_class=Response)
def ca_certificate(name: str, request: Request) -> Response:
    """The CA certificate (PEM)."""
    chain = ca_chain(runtime_of(request).ctx, name)
    return Response(certificate_pem(chain[0]), media_type=_PEM_CERT)


@router.get("/ca/{name}/chain.pem", tags=["public"], response_class=Response)
def ca_chain_pem(name: str, request: Request) -> Response:
    """The CA certificate and every CA above it (PEM)."""
    return Response(chain_pem(ca_chain(runtime_of(request).ctx, name)), media_type=_PEM_CERT)


@router.get("/ca/{name}/crl", tags=["public"], response_class=Response)
def crl_der(name: str, request: Request) -> Response:
    """The newest CRL of the CA (DER, application/pkix-crl)."""
    return Response(
        latest_crl(runtime_of(request).ctx, name).der, media_type="application/pkix-crl"
    )


@router.get("/ca/{name}/crl.pem", tags=["public"], response_class=Response)
def crl_pem(name: str, request: Request) -> Response:
    """The newest CRL of the CA (PEM)."""
    return Response(latest_crl(runtime_of(request).ctx, name).pem, media_type=_PEM_CERT)
