"""The one place errors become HTTP answers, in OpenAI's shape:
``{"error": {"message", "type", "param", "code"}}``.

ExpertError subclasses map to statuses here (composition, grammar, bad settings: 400; a missing
model: 503); request validation (FastAPI's 422) becomes a 400 naming the field; anything else is a
500 with a generic message — never a traceback in the body.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from expertkit.errors import EnvironmentProblem, ExpertError

log = logging.getLogger("expertkit.serve")

_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error", 405: "invalid_request_error",
          413: "invalid_request_error", 503: "service_unavailable", 500: "internal_error"}


class APIError(Exception):
    """An answer other than 200, raised anywhere in the app."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.headers = status, message, param, code, headers


def body(status: int, message: str, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": _TYPES.get(status, "invalid_request_error"), "param": param,
                      "code": code if code is not None else str(status)}}


def from_expert_error(exc: ExpertError) -> APIError:
    status = 503 if isinstance(exc, EnvironmentProblem) else 400
    message = exc.message + (f" ({exc.hint})" if exc.hint else "")
    return APIError(status, message, param=exc.param, code=type(exc).__name__)


def to_api_error(exc: BaseException) -> APIError:
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, ExpertError):
        return from_expert_error(exc)
    log.exception("internal error", exc_info=exc)
    return APIError(500, "internal server error (logged on the server)")


def respond(exc: BaseException, on_error: Any = None) -> JSONResponse:
    err = to_api_error(exc)
    if on_error is not None:
        on_error(err.status)
    return JSONResponse(body(err.status, err.message, err.param, err.code), status_code=err.status, headers=err.headers)


def _validation(exc: RequestValidationError) -> APIError:
    first = exc.errors()[0] if exc.errors() else {}
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    param = ".".join(loc) or None
    if first.get("type") == "extra_forbidden":
        return APIError(400, f"unknown parameter {param!r}", param=param, code="unknown_parameter")
    if first.get("type") == "json_invalid":
        return APIError(400, "the request body is not valid JSON", code="invalid_json")
    return APIError(400, f"{param or 'body'}: {first.get('msg', 'invalid value')}", param=param, code="invalid_parameter")


def install_handlers(app: FastAPI, on_error: Any) -> None:
    """``on_error(status)`` counts every error answer (the metrics)."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return respond(_validation(exc), on_error)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return respond(APIError(exc.status_code, str(exc.detail)), on_error)

    @app.exception_handler(APIError)
    async def _api(request: Request, exc: APIError) -> JSONResponse:
        return respond(exc, on_error)

    @app.exception_handler(ExpertError)
    async def _expert(request: Request, exc: ExpertError) -> JSONResponse:
        return respond(exc, on_error)

    @app.exception_handler(Exception)
    async def _other(request: Request, exc: Exception) -> JSONResponse:
        return respond(exc, on_error)
