"""/docs and /redoc over HTTP: every URL they name is on this service, every asset answers,
and the Content-Security-Policy allows this origin only."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import httpx
from starlette.types import Scope

from tempo.app import create_app
from tempo.core.settings import Settings
from tempo.site.api_docs import ASSETS_DIR, ASSETS_PATH
from tests.fixtures.app import running
from tests.fixtures.database import until_listening

CONTENT_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".png": "image/png",
    ".json": "application/json",
}
# The only sources a policy of these pages may name: no host, no scheme but data: and blob:.
ALLOWED_SOURCES = re.compile(
    r"'self'|'none'|'unsafe-inline'|data:|blob:|'sha256-[A-Za-z0-9+/]+={0,2}'"
)


@dataclass
class Page(HTMLParser):
    urls: list[str] = field(default_factory=list)  # every src, href and spec-url
    inline: dict[str, list[str]] = field(default_factory=lambda: {"script": [], "style": []})
    _open: str | None = None

    def __post_init__(self) -> None:
        super().__init__()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.urls += [v for k, v in values.items() if k in ("src", "href", "spec-url") and v]
        self._open = tag if tag in self.inline and "src" not in values else None
        if self._open:
            self.inline[self._open].append("")

    def handle_data(self, data: str) -> None:
        if self._open:
            self.inline[self._open][-1] += data

    def handle_endtag(self, tag: str) -> None:
        self._open = None


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page


def policy(response: httpx.Response) -> dict[str, list[str]]:
    directives = [d.split() for d in response.headers["content-security-policy"].split(";")]
    return {name: sources for name, *sources in directives}


def sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


async def check_local_assets(client: httpx.AsyncClient, page: Page) -> set[str]:
    """Fetch every URL the page names; all must be paths on this service."""
    fetched = set()
    for url in page.urls:
        assert url.startswith("/") and not url.startswith("//"), url
        response = await client.get(url)
        assert response.status_code == 200, url
        path = url.split("?")[0]
        suffix = path[path.rfind(".") :]
        assert response.headers["content-type"].startswith(CONTENT_TYPES[suffix]), url
        if path.startswith(ASSETS_PATH):
            assert response.headers["x-content-type-options"] == "nosniff"
            assert "immutable" in response.headers["cache-control"]
        fetched.add(path.rsplit("/", 1)[-1])
    return fetched


def check_policy(response: httpx.Response, page: Page) -> dict[str, list[str]]:
    csp = policy(response)
    assert csp["default-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    for directive in ("script-src", "style-src", "img-src", "connect-src"):
        assert "'self'" in csp[directive], directive
    assert "'unsafe-inline'" not in csp["script-src"]
    for name, sources in csp.items():
        for source in sources:
            assert ALLOWED_SOURCES.fullmatch(source), f"{name} {source}"
    # Each inline script runs because the policy names its hash, and only then.
    assert sorted(csp["script-src"][1:]) == sorted(map(sha256_source, page.inline["script"]))
    assert response.headers["x-content-type-options"] == "nosniff"
    return csp


async def test_swagger_ui_is_served_from_this_service(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "://" not in response.text  # no absolute URL at all, so no other origin
    page = parse(response.text)
    assets = await check_local_assets(client, page)
    assert assets == {"swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"}
    (script,) = page.inline["script"]
    assert "url: '/openapi.json'" in script
    csp = check_policy(response, page)
    assert len(csp["script-src"]) == 2  # 'self' and the hash of the one inline script
    assert csp["style-src"] == ["'self'"]

    redirect = await client.get("/docs/oauth2-redirect")
    assert redirect.status_code == 200 and "://" not in redirect.text
    check_policy(redirect, parse(redirect.text))


async def test_redoc_is_served_from_this_service(client: httpx.AsyncClient) -> None:
    response = await client.get("/redoc")
    assert response.status_code == 200
    assert "://" not in response.text  # no Google Fonts, no CDN
    page = parse(response.text)
    assert await check_local_assets(client, page) == {
        "redoc.standalone.js",
        "favicon.png",
        "openapi.json",
    }
    csp = check_policy(response, page)
    assert csp["script-src"] == ["'self'"]
    assert csp["worker-src"] == ["blob:"]


async def test_the_assets_are_the_pinned_packages_files(client: httpx.AsyncClient) -> None:
    css = await client.get("/static/docs/swagger-ui.css")
    assert css.content == (ASSETS_DIR / "swagger-ui.css").read_bytes()
    original = (ASSETS_DIR / "redoc.standalone.js").read_bytes()
    served = (await client.get("/static/docs/redoc.standalone.js")).content
    # The same script, less the one image it would load from Redocly's CDN.
    assert b"https://cdn.redoc.ly/" in original
    assert b"https://cdn.redoc.ly/" not in served
    assert served.startswith(original[:200]) and len(original) - len(served) < 100
    # Another spelling of the path, or HEAD, must not reach the package's own copy.
    for spelling in ("/static/docs//redoc.standalone.js", "/static/docs/./redoc.standalone.js"):
        assert (await client.get(spelling)).content == served, spelling
    head = await client.head("/static/docs/redoc.standalone.js")
    assert head.status_code == 200 and head.headers["content-length"] == str(len(served))
    assert "immutable" in head.headers["cache-control"]
    assert (await client.get("/static/docs/nothing.js")).status_code == 404


async def test_the_pages_are_left_out_of_the_openapi_document(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not [p for p in paths if p.startswith(("/docs", "/redoc", "/static"))]


async def test_the_docs_stay_out_of_the_way_of_the_api(
    settings: Settings, database_url: str
) -> None:
    """A cached GET /leaderboard is answered before FastAPI's router, and a request that
    does reach it is matched before any of the docs' routes or mount is tried."""
    app = create_app(settings)
    tried: list[str] = []
    for route in app.router.routes:  # routes, mounts and the included routers
        path = getattr(route, "path", "a router")

        def matches(scope: Scope, original: Any = route.matches, path: str = path) -> Any:
            tried.append(path)
            return original(scope)

        route.matches = matches  # type: ignore[method-assign]
    async for client in running(app):
        await until_listening(database_url)
        assert (await client.get("/leaderboard")).status_code == 200
        assert tried
        tried.clear()
        hit = await client.get("/leaderboard")
        assert hit.status_code == 200 and tried == []  # not even the router
        assert (await client.get("/healthz")).status_code == 200
        assert tried[-1] == "a router"  # the ops router, which has /healthz
        assert not [p for p in tried if p.startswith(("/docs", "/redoc", "/static"))]


async def test_behind_a_path_prefix_the_pages_name_it(settings: Settings) -> None:
    """A proxy that mounts the API under /tempo (root_path): every URL keeps to it, and the
    policy names the hash of that page's own start-up script."""
    transport = httpx.ASGITransport(app=create_app(settings), root_path="/tempo")
    async with httpx.AsyncClient(transport=transport, base_url="http://tempo.test") as client:
        for path in ("/tempo/docs", "/tempo/redoc"):
            response = await client.get(path)
            page = parse(response.text)
            assert page.urls and all(url.startswith("/tempo/") for url in page.urls), page.urls
            check_policy(response, page)
            for url in page.urls:
                if "/static/docs/" in url:
                    assert (await client.get(url)).status_code == 200, url
        swagger = parse((await client.get("/tempo/docs")).text)
        assert "url: '/tempo/openapi.json'" in swagger.inline["script"][0]
