"""FastAPI dependencies shared by the routers."""

from __future__ import annotations

from fastapi import Request

from lineagegraph.runtime import Services


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc
