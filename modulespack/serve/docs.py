"""`/openapi.json` and `/docs`: the OpenAPI document (a form per graph, see `openapi`) and Swagger UI.

Swagger UI's JavaScript and CSS are served from the files of the `swagger-ui-bundle-v2` package
(module `swagger_ui_bundle`) under `/docs-assets`, never from a CDN: `/docs` works offline. (Its
Swagger UI 5 reads OpenAPI 3.1, which FastAPI writes; the older `swagger-ui-bundle` 1.x ships
Swagger UI 4, which cannot.) There is no `/redoc`: ReDoc would load from a CDN.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from starlette.requests import Request
from starlette.responses import Response

from .. import __version__
from .encode import dumps
from .errors import ServeError
from .state import ServeState

ASSETS = "/docs-assets"


def swagger_ui_dir() -> Path | None:
    """The folder of Swagger UI's files (swagger-ui-bundle.js, swagger-ui.css), if installed."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        return None
    path = Path(str(swagger_ui_path))
    return path if (path / "swagger-ui-bundle.js").is_file() else None


def root_path(request: Request) -> str:
    """The prefix the app is mounted at (or served under, behind a proxy): '' or '/speech'."""
    return request.scope.get("root_path", "").rstrip("/")


def add_docs_routes(app: FastAPI, state: ServeState, title: str) -> None:
    from .openapi import all_schemas

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=title, version=__version__, description=app.description, routes=app.routes)
        comps = schema.setdefault("components", {})
        comps.setdefault("schemas", {}).update(all_schemas(app.state.modulespack_models))
        if state.keys:
            comps["securitySchemes"] = {"apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                                        "bearer": {"type": "http", "scheme": "bearer"}}
            schema["security"] = [{"apiKey": []}, {"bearer": []}]
            for open_path in ("/healthz", "/readyz"):
                if open_path in schema.get("paths", {}):
                    schema["paths"][open_path]["get"]["security"] = []
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(state.docs_key)])
    async def openapi_json(request: Request) -> Response:
        schema, root = openapi(), root_path(request)
        if root:  # mounted under a prefix: "Try it out" calls go there
            schema = {**schema, "servers": [{"url": root}]}
        return Response(dumps(schema), media_type="application/json")

    assets = swagger_ui_dir()
    if assets is not None:
        from starlette.staticfiles import StaticFiles
        app.mount(ASSETS, StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False, dependencies=[Depends(state.docs_key)])
    async def docs(request: Request) -> Response:
        if assets is None:
            raise ServeError(503, "the API docs page needs the swagger-ui-bundle-v2 package "
                                  "(pip install 'modulespack[serve]'); the OpenAPI document is at openapi.json")
        root = root_path(request)
        return get_swagger_ui_html(
            openapi_url=root + "/openapi.json", title=f"{title} - API",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js", swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None})  # no badge calling validator.swagger.io
