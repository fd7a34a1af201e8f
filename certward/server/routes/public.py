"""Routes that need no client certificate: health and the public CA material."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from certward.access.grants import Permission
from certward.ca.authority import ca_chain
from certward.ca.crl import latest_crl
from certward.crypto.formats import certificate_pem, chain_pem
from certward.server.auth import Caller, blocking, caller, runtime_of
from certward.server.schemas import Health

__all__ = ["router"]

router = APIRouter()
_PEM_CERT = "application/x-pem-file"


@router.get("/health", response_model=Health, tags=["service"])
async def health(request: Request) -> Health:
    """Whether the service and its database answer (served by the outer layer)."""
    return Health(status="healthy" if runtime_of(request).healthy else "unhealthy")


@router.get("/metrics", tags=["service"], response_class=Response)
async def metrics(request: Request, who: Annotated[Caller, Depends(caller)]) -> Response:
    """Prometheus metrics of this process (needs ``metrics.read``)."""

    def work() -> Response:
        who.require(Permission.METRICS_READ)
        body = request.app.state.metrics.render()
        return Response(body, media_type="text/plain; version=0.0.4")

    return await blocking(work)


@router.get("/ca/{name}/ca.crt", tags=["public"], response_class=Response)
async def ca_certificate(name: str, request: Request) -> Response:
    """The CA certificate (PEM)."""

    def work() -> Response:
        chain = ca_chain(runtime_of(request).ctx, name)
        return Response(certificate_pem(chain[0]), media_type=_PEM_CERT)

    return await blocking(work)


@router.get("/ca/{name}/chain.pem", tags=["public"], response_class=Response)
async def ca_chain_pem(name: str, request: Request) -> Response:
    """The CA certificate and every CA above it (PEM)."""

    def work() -> Response:
        return Response(chain_pem(ca_chain(runtime_of(request).ctx, name)), media_type=_PEM_CERT)

    return await blocking(work)


@router.get("/ca/{name}/crl", tags=["public"], response_class=Response)
async def crl_der(name: str, request: Request) -> Response:
    """The newest CRL of the CA (DER, application/pkix-crl)."""

    def work() -> Response:
        return Response(
            latest_crl(runtime_of(request).ctx, name).der, media_type="application/pkix-crl"
        )

    return await blocking(work)


@router.get("/ca/{name}/crl.pem", tags=["public"], response_class=Response)
async def crl_pem(name: str, request: Request) -> Response:
    """The newest CRL of the CA (PEM)."""

    def work() -> Response:
        return Response(latest_crl(runtime_of(request).ctx, name).pem, media_type=_PEM_CERT)

    return await blocking(work)
