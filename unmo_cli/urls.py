"""Owns the rule for an API URL that ends up in files a customer runs (`.env`, the curl and Python
examples, SDK configs, the welcome e-mail): what such a URL may hold, checked where it enters
(settings, a customer's customer.yaml or .env), before any template quotes it."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

# The platform's production API: what customers are given unless api.public_url says otherwise.
PRODUCTION_API_URL = "https://api.unmogrowp.com/v1"

# RFC 3986's unreserved and reserved characters and `%`, less everything a shell, a quoted
# string or a dotenv parser gives a meaning to: no whitespace, quotes, `$`, backticks,
# backslashes, braces, angle brackets or control characters, and ASCII only (an international
# domain name is written in its xn-- form).
_URL_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!&()*+,;=%]+")


def url_problem(url: str) -> str | None:
    """Why `url` cannot be written into a customer's files, as words that read after the URL
    (e.g. "is not an http:// or https:// URL"), or None when it can: an http(s) URL with a host,
    no credentials, query or fragment, and only characters that mean nothing to a shell, Python,
    dotenv, XML or YAML."""
    if not isinstance(url, str) or not url:
        return "is empty"
    if not _URL_CHARACTERS.fullmatch(url):
        bad = next(ch for ch in url if not _URL_CHARACTERS.fullmatch(ch))
        what = "a space" if bad == " " else (
            repr(bad) if bad.isprintable() else f"the character U+{ord(bad):04X}")
        return f"contains {what}, which an API URL may not hold"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return "is not a valid URL"
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not url.lower().startswith(scheme + "://"):
        return "is not an http:// or https:// URL"
    if not parts.hostname:
        return "names no host"
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return "carries credentials (customers send their keys as bearer tokens)"
    if "?" in url or "#" in url:
        return "has a query or fragment"
    return None


def local_host(url: str) -> bool:
    """Whether `url` names this machine (a loopback or unspecified address, `localhost` or a
    `*.localhost` name): an address that no customer can reach. Decided from the text alone."""

    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified or address.is_link_local


def customer_url_problem(url: str) -> str | None:
    """Why `url` cannot be given to a new customer, or None: it passes url_problem, is https
    (the customer's servers send secret keys to it) and does not name this machine."""
    problem = url_problem(url)
    if problem:
        return problem
    if local_host(url):
        return "names this machine, which no customer can reach"
    if urlsplit(url).scheme.lower() != "https":
        return "is not https (customers send their secret keys to it)"
    return None


def is_loopback_host(host: str) -> bool:
    """Whether `host` (a URL's hostname, brackets removed) is trusted to be this machine without
    asking the network: a literal loopback address (127.0.0.0/8, ::1, or ::1's IPv4-mapped
    form ::ffff:127.x.x.x) or the name `localhost` itself, which every system maps in its hosts
    file. Any other name is not, `*.localhost` included: RFC 6761 asks resolvers to keep those on
    loopback, but glibc sends them to DNS like any name, and whoever answers DNS would choose
    where the customers' keys go in clear. Such a name needs https, or the IP address."""

    name = host.lower()
    if name in ("localhost", "localhost."):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)
