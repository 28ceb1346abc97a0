"""Who may reach the app: API keys (one FastAPI dependency), the Host and Origin checks that stop other
web sites from using a visitor's browser against the server (cross-site requests, DNS rebinding), and
the headers that keep the page out of other sites' frames.

Without API keys a server on 127.0.0.1 is still reachable by any page the user opens: a cross-site
form or `fetch` POST needs no CORS preflight, and a DNS name rebound to 127.0.0.1 makes the browser
send that name as `Host`. So every request whose `Origin` is another site is refused unless CORS
allows that origin, and `Host` must be one the server is meant to be reached by. A request that
changes something (not GET/HEAD/OPTIONS) and carries no `Origin` (older browsers) is judged by the
browser's `Sec-Fetch-Site`, else by its `Referer`; GETs without `Origin` pass (a link from another
site to the page is a cross-site navigation).

Behind a reverse proxy that rewrites `Host`, start the server with `--allowed-host` (the name the
proxy sends) and, if the page is served under another origin, `--cors` (that origin).
"""
from __future__ import annotations

import hmac
import ipaddress
import socket
from typing import Iterable, Sequence
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ServeError, error_response

LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")
ANY_ADDRESS = ("0.0.0.0", "::", "[::]", "")
# an allowed-hosts entry that matches any IP-address literal (v4, or v6 in brackets): a request sent
# to an address, not a name, cannot come from a DNS name rebound to this server
ANY_IP = "<any-ip>"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

# the demo page loads only its own files: ES modules and CSS from /static, fetches to the API next to
# it, blob: URLs for the audio it plays and downloads, a data: URL for its icon
PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
            "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
            "form-action 'self'; frame-ancestors 'none'")
PAGE_HEADERS = {"Content-Security-Policy": PAGE_CSP, "X-Frame-Options": "DENY",
                "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
FRAME_HEADERS = ((b"x-frame-options", b"DENY"), (b"x-content-type-options", b"nosniff"))


def default_allowed_hosts(bind: str) -> list[str]:
    """The `Host` values a server listening on `bind` answers by default: the loopback names for a
    loopback address; for 0.0.0.0 / :: any IP address, localhost and this machine's names (not any
    name: a keyless server would be open to DNS rebinding); else that address or name itself."""
    b = bind.strip().lower()
    if b in ANY_ADDRESS:
        return [ANY_IP, "localhost", *machine_names()]
    if b in ("127.0.0.1", "localhost", "::1", "[::1]"):
        return list(LOCAL_HOSTS)
    return [f"[{b}]" if ":" in b and not b.startswith("[") else b]


def machine_names() -> list[str]:
    """This machine's host name and fully qualified name, lowercased."""
    names = []
    for get in (socket.gethostname, socket.getfqdn):
        try:
            n = get().strip().lower().rstrip(".")
        except OSError:
            continue
        if n and n not in names and n != "localhost":
            names.append(n)
    return names


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name[1:-1] if name.startswith("[") and name.endswith("]") else name)
    except ValueError:
        return False
    return True


def _split_host(host: str) -> tuple[str, int | None] | None:
    """(host name lowercased, IPv6 in brackets; port or None) of a Host header, None if malformed."""
    try:
        parts = urlsplit("//" + host)
        port = parts.port
    except ValueError:
        return None
    name = parts.hostname
    if not name or parts.username is not None or parts.path or parts.query or parts.fragment:
        return None
    return (f"[{name}]" if ":" in name else name), port


def _host_allowed(name: str, patterns: Sequence[str]) -> bool:
    for p in patterns:
        if p == "*" or name == p or (p.startswith("*.") and name.endswith(p[1:])) or (p == ANY_IP and _is_ip(name)):
            return True
    return False


def _origin_of(url: str) -> str:
    """scheme://host[:port] of a URL (a Referer), or the URL itself when it has no such parts."""
    try:
        u = urlsplit(url.strip())
    except ValueError:
        return url
    return f"{u.scheme}://{u.netloc.rpartition('@')[2]}" if u.scheme and u.netloc else url


def _same_origin(origin: str, host: str) -> bool:
    """Is `origin` (scheme://host[:port]) the site the request was sent to (its Host header)?

    The scheme is not compared: behind a proxy that ends TLS the app sees http for an https page.
    A Host without a port matches the origin's default port only."""
    try:
        o = urlsplit(origin)
        o_port = o.port
    except ValueError:
        return False
    if o.scheme not in ("http", "https") or not o.hostname:
        return False
    h = _split_host(host)
    if h is None:
        return False
    o_name = f"[{o.hostname}]" if ":" in o.hostname else o.hostname
    default = 443 if o.scheme == "https" else 80
    o_port = o_port or default
    return o_name == h[0] and (h[1] or default) == o_port


class AccessGuard:
    """ASGI middleware: refuses (400) a Host not in `allowed_hosts` (None: any), and (403) a request
    whose Origin is neither the server's own nor one of `allowed_origins` ("*": any), or, without an
    Origin, a POST that `Sec-Fetch-Site` or `Referer` says comes from another site. Every answer gets
    `X-Frame-Options: DENY` and `nosniff`: no other site may frame the page or the docs (the page
    also gets PAGE_HEADERS from its route)."""

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str] | None, allowed_origins: Iterable[str]):
        self.app = app
        hosts = None if allowed_hosts is None else [h.strip().lower() for h in allowed_hosts if h.strip()]
        self.hosts = None if hosts is None or "*" in hosts else [_bracket(h) for h in hosts]
        origins = [o.strip().rstrip("/").lower() for o in allowed_origins]
        self.any_origin = "*" in origins
        self.origins = set(origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {}
        for k, v in scope.get("headers") or ():
            if k in (b"host", b"origin", b"referer", b"sec-fetch-site"):
                headers[k] = v.decode("latin-1")
        host = headers.get(b"host", "")
        if self.hosts is not None:
            h = _split_host(host)
            if h is None or not _host_allowed(h[0], self.hosts):
                allowed = ", ".join("any IP address" if p == ANY_IP else p for p in self.hosts)
                await self._refuse(scope, receive, send, 400, "host", (
                    f"this server does not answer to Host {host!r} (allowed: {allowed}); "
                    "start it with --allowed-host NAME to reach it by another name"))
                return
        why = self._foreign(headers, host, scope.get("method", "GET"))
        if why is not None:
            await self._refuse(scope, receive, send, 403, "origin", (
                f"cross-site request refused: {why}; start the server with --cors ORIGIN to let pages there "
                "call it"))
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                have = {k.lower() for k, _ in message.get("headers", ())}
                message["headers"] = [*message.get("headers", ()), *(h for h in FRAME_HEADERS if h[0] not in have)]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _allowed_origin(self, origin: str, host: str) -> bool:
        return self.any_origin or origin.rstrip("/").lower() in self.origins or _same_origin(origin, host)

    def _foreign(self, headers: dict[bytes, str], host: str, method: str) -> str | None:
        """Why the request comes from another site's page, or None."""
        origin = headers.get(b"origin")
        if origin is not None:
            return None if self._allowed_origin(origin, host) else f"Origin {origin!r} is not this server's own"
        if method.upper() in SAFE_METHODS:
            return None
        referer = headers.get(b"referer")
        site = headers.get(b"sec-fetch-site", "").strip().lower()
        if site in ("same-origin", "none"):  # set by the browser, which a page cannot change
            return None
        if site in ("cross-site", "same-site"):  # the Referer, if any, may name an origin --cors allows
            if self.any_origin or (referer is not None and _origin_of(referer).lower() in self.origins):
                return None
            return f"the browser says it comes from another site (Sec-Fetch-Site: {site})"
        if referer is not None and not self._allowed_origin(_origin_of(referer), host):
            return f"Referer {_origin_of(referer)!r} is not this server's own"
        return None

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, kind: str, msg: str) -> None:
        await error_response(status, {"error": msg, "kind": kind})(scope, receive, send)


def _bracket(h: str) -> str:
    return f"[{h}]" if ":" in h and not h.startswith("[") else h


# ============================================================================ API keys


def given_keys(request: Request) -> list[str]:
    """The keys a request carries: X-API-Key and Authorization: Bearer (empty values are no key)."""
    out = []
    key = request.headers.get("x-api-key", "").strip()
    if key:
        out.append(key)
    scheme, _, cred = request.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and cred.strip():
        out.append(cred.strip())
    return out


class ApiKeys:
    """The server's API keys. An instance is the FastAPI dependency that guards a route
    (`Depends(keys)`); `valid(request)` tells whether a request carries one (True without keys)."""

    def __init__(self, keys: Iterable[str]):
        self.keys = [k.encode("utf-8") for k in keys if k]

    def __bool__(self) -> bool:
        return bool(self.keys)

    def valid(self, request: Request) -> bool:
        if not self.keys:
            return True
        ok = False
        for given in given_keys(request):
            g = given.encode("utf-8")
            for k in self.keys:  # compare with every key: the time does not tell which one matched
                ok |= hmac.compare_digest(g, k)
        return ok

    async def __call__(self, request: Request) -> None:
        if self.valid(request):
            return
        raise ServeError(401, "the API key is not valid" if given_keys(request) else
                         "an API key is needed: send the X-API-Key header or Authorization: Bearer <key>",
                         kind="auth", headers={"WWW-Authenticate": 'Bearer realm="modulespack"'})
