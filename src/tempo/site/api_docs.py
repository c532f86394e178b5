"""GET /docs (Swagger UI) and GET /redoc (ReDoc), served whole from this process.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so without internet they are
blank. Here the scripts, stylesheet and icon come from the `fastapi-offline` package
(pinned in uv.lock), mounted under /static/docs, and each page's Content-Security-Policy
lets the browser load nothing from anywhere else.
"""

from __future__ import annotations

import base64
import hashlib
import re
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

from tempo.site.chrome import SECURITY_HEADERS

ASSETS_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
ASSETS_PATH = "/static/docs"
REDOC_SCRIPT = "redoc.standalone.js"
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", REDOC_SCRIPT, "favicon.png")
ASSETS_VERSION = version("fastapi-offline")
DOCS_URL = "/docs"
REDOC_URL = "/redoc"

ASSET_HEADERS = {
    # Each asset URL names the package's version, and an upgrade changes it: a browser may
    # keep what it got for good.
    "Cache-Control": "public, max-age=31536000, immutable",
    "X-Content-Type-Options": "nosniff",
}
# ReDoc's sidebar shows Redocly's logo, loaded from Redocly's CDN, and no option turns it
# off. With an empty `src` the image fails at once, without a request (or a CSP violation),
# and ReDoc leaves it out, as it does whenever that CDN is unreachable.
REDOCLY_LOGO = b'"https://cdn.redoc.ly/redoc/logo-mini.svg"'

# Both pages fetch /openapi.json from this origin ('self'), and Swagger UI's "Try it out"
# calls the API there too. Swagger UI's stylesheet draws its icons as data: images; ReDoc
# parses the document in a Web Worker it starts from a blob: URL. Neither page submits a
# form or may be framed. The inline script FastAPI writes into a page runs because the
# page's policy names its hash (added per page below), not by 'unsafe-inline'.
_COMMON_POLICY = (
    "default-src 'none'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
)


def _check_assets() -> None:
    missing = [name for name in ASSETS if not (ASSETS_DIR / name).is_file()]
    if missing:
        raise RuntimeError(
            f"fastapi-offline {ASSETS_VERSION} ships no {', '.join(missing)} in {ASSETS_DIR}:"
            " the API documentation pages cannot be served (reinstall with `make install`)"
        )


def _hashes(html: str, tag: str) -> list[str]:
    """CSP sources for the inline `<tag>` elements of `html` (those without attributes)."""
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.DOTALL)
    ]


def _policy(*directives: str) -> str:
    return "; ".join((*directives, *_COMMON_POLICY))


def _answer(response: HTMLResponse, *directives: str) -> tuple[bytes, dict[str, str]]:
    csp = _policy(*directives)
    return bytes(response.body), SECURITY_HEADERS | {"Content-Security-Policy": csp}


class _Assets(StaticFiles):
    """The package's files, cached by browsers for good and never type-sniffed."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        # `path` is normalised (./, //, a trailing / removed): every spelling of ReDoc's
        # script, and HEAD, get the copy without the logo, with the length GET sends.
        if path == REDOC_SCRIPT and scope["method"] in ("GET", "HEAD"):
            return Response(
                _redoc_script(), media_type="text/javascript; charset=utf-8", headers=ASSET_HEADERS
            )
        return await super().get_response(path, scope)

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers.update(ASSET_HEADERS)
        return response


@lru_cache(maxsize=1)
def _redoc_script() -> bytes:
    """ReDoc's script from the package, without the one image it loads from elsewhere."""
    return (ASSETS_DIR / REDOC_SCRIPT).read_bytes().replace(REDOCLY_LOGO, b'""')


def install_api_docs(app: FastAPI) -> None:
    """Add /docs, its OAuth2 redirect page, /redoc and the assets they load to `app`.

    `app` must be created with `docs_url=None, redoc_url=None`, so that FastAPI does not add
    its CDN pages itself.
    """
    _check_assets()
    openapi_url = app.openapi_url
    if openapi_url is None:
        raise ValueError("the API documentation pages need the OpenAPI document (openapi_url)")
    oauth2_redirect_url = app.swagger_ui_oauth2_redirect_url or f"{DOCS_URL}/oauth2-redirect"

    def asset(root_path: str, name: str) -> str:
        return f"{root_path}{ASSETS_PATH}/{name}?v={ASSETS_VERSION}"

    # A page differs only by the root path a proxy mounts the API under (a server setting,
    # not chosen by clients), so each is built once per root path.
    @lru_cache(maxsize=8)
    def swagger_ui(root_path: str) -> tuple[bytes, dict[str, str]]:
        page = get_swagger_ui_html(
            openapi_url=root_path + openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=asset(root_path, "swagger-ui-bundle.js"),
            swagger_css_url=asset(root_path, "swagger-ui.css"),
            swagger_favicon_url=asset(root_path, "favicon.png"),
            oauth2_redirect_url=root_path + oauth2_redirect_url,
            init_oauth=app.swagger_ui_init_oauth,
            swagger_ui_parameters=app.swagger_ui_parameters,
        )
        html = bytes(page.body).decode()
        script = " ".join(["'self'", *_hashes(html, "script")])
        return _answer(page, f"script-src {script}", "style-src 'self'")

    @lru_cache(maxsize=8)
    def redoc(root_path: str) -> tuple[bytes, dict[str, str]]:
        page = get_redoc_html(
            openapi_url=root_path + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=asset(root_path, REDOC_SCRIPT),
            redoc_favicon_url=asset(root_path, "favicon.png"),
            with_google_fonts=False,  # fonts from Google would be a third origin
        )
        # ReDoc styles its components with styled-components, which writes <style>
        # elements at run time: without 'unsafe-inline' for styles (a hash cannot name
        # them) it shows "Something went wrong". Its scripts stay limited to 'self'.
        return _answer(
            page, "script-src 'self'", "style-src 'self' 'unsafe-inline'", "worker-src blob:"
        )

    @lru_cache(maxsize=1)
    def oauth2_redirect() -> tuple[bytes, dict[str, str]]:
        page = get_swagger_ui_oauth2_redirect_html()
        html = bytes(page.body).decode()
        script = " ".join(["'self'", *_hashes(html, "script")])
        return _answer(page, f"script-src {script}", "style-src 'self'")

    def root(request: Request) -> str:
        return str(request.scope.get("root_path", "")).rstrip("/")

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui_page(request: Request) -> HTMLResponse:
        body, headers = swagger_ui(root(request))
        return HTMLResponse(body, headers=headers)

    @app.get(oauth2_redirect_url, include_in_schema=False)
    async def swagger_ui_oauth2_redirect() -> HTMLResponse:
        body, headers = oauth2_redirect()
        return HTMLResponse(body, headers=headers)

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc_page(request: Request) -> HTMLResponse:
        body, headers = redoc(root(request))
        return HTMLResponse(body, headers=headers)

    # A Mount is matched by prefix; it is tried after every route (so after all the API's
    # routes), and cached reads never reach FastAPI's router at all.
    app.mount(ASSETS_PATH, _Assets(directory=ASSETS_DIR), name="docs-assets")
