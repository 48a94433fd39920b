"""FastAPI dependencies shared by the routers."""

from __future__ import annotations

from fastapi import Request

from lineagegraph.runtime import Services


async def services(request: Request) -> Services:
    """The app's services (``async``: FastAPI calls it on the loop, no thread hop)."""
    svc: Services = request.app.state.services
    return svc
