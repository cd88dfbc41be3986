"""Where a webhook may go: public addresses, and private ones only where an admin allowed them.

An application chooses its callback URL and glassbox makes the request, from inside its own
network. Without a rule a decision's ``callback_url`` could name glassbox's own
``/v1/me/erasure`` on loopback, PostgreSQL's port or a cloud's metadata service, and the
attempts recorded for the application (``GET /v1/decisions/{id}/webhooks``) would tell it, port
by port, what answered. The rule is applied twice:

- When the decision is taken (:func:`callback_url_reach`), without DNS, which would cost the
  decision hot path a lookup: the URL is https (http too in demo mode), and its host is judged
  if it is an address literal or an obviously local name (``localhost``, ``*.local``,
  ``*.internal``, a name without a dot ...).
- When the webhook is sent (:func:`resolve_destination`): the name is resolved once, every
  address it resolves to is judged, and the request goes to the judged address, with the name
  in the ``Host`` header and as TLS SNI, so the certificate is still verified against the name.
  A name that resolved to a public address when the decision was taken and to loopback now (DNS
  rebinding) is refused, and there is no second lookup between the check and the connection
  for it to change in.

How far an address is from the public internet (:class:`Reach`):

``PUBLIC``
    Globally routable: always allowed.
``PRIVATE``
    Loopback, RFC 1918, shared (100.64/10), unique-local (fc00::/7), documentation and the
    other non-global ranges, and the local names: allowed only for an application whose API key
    has ``allow_private_callbacks``, set by an admin.
``NEVER``
    Cloud metadata services (all of link-local 169.254/16 and fe80::/10, and fd00:ec2::254,
    100.100.100.200, 168.63.129.16, 192.0.0.192), multicast, unspecified and reserved addresses:
    no webhook receiver lives there, whatever the allowance.

IPv4 addresses wrapped in IPv6 (IPv4-mapped ``::ffff:a.b.c.d``, 6to4, NAT64 ``64:ff9b::/96``)
are judged as the IPv4 address they reach.

Exceptions::

    DestinationError            the webhook cannot be sent to this URL now
    ├── DestinationRefusedError the URL or an address its name resolves to is not allowed
    └── NameNotResolvedError    the name does not resolve (or the URL has no usable host)
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

import httpx

__all__ = [
    "DestinationError",
    "DestinationRefusedError",
    "NameNotResolvedError",
    "Reach",
    "Resolver",
    "Target",
    "address_reach",
    "callback_url_reach",
    "resolve_destination",
    "system_resolver",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]
"""Resolves ``(host, port)`` to the addresses to connect to, in order of preference."""

_METADATA_ADDRESSES: Final = frozenset(
    ipaddress.ip_address(address)
    for address in (
        "fd00:ec2::254",  # AWS (IPv6); its IPv4 169.254.169.254 is link-local, as are GCP's
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure's platform address (a public one)
        "192.0.0.192",  # Oracle Cloud
    )
)
_NAT64: Final = ipaddress.IPv6Network("64:ff9b::/96")
# RFC 6761 (localhost), RFC 6762 (mDNS .local), RFC 8375 (home.arpa), ICANN's private-use
# .internal (GCP's metadata.google.internal), and the localdomain of many /etc/hosts files.
_LOCAL_SUFFIXES: Final = ("localhost", "local", "internal", "home.arpa", "localdomain")


class Reach(Enum):
    """Who may send webhooks to an address or host (see the module's docstring)."""

    PUBLIC = "public"
    PRIVATE = "private"
    NEVER = "never"


class DestinationError(Exception):
    """The webhook cannot be sent to this URL now."""


class DestinationRefusedError(DestinationError):
    """The URL, or an address its name resolves to, is not an allowed destination."""


class NameNotResolvedError(DestinationError):
    """The URL's host name does not resolve, or the URL has no usable host."""


def _reached_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return None


def address_reach(address: IPAddress) -> Reach:
    """How far an address is from the public internet.

    Parameters
    ----------
    address : IPv4Address or IPv6Address
        An address a callback URL names or its name resolves to.

    Returns
    -------
    Reach
        ``NEVER`` for metadata, link-local, multicast, unspecified and reserved addresses,
        ``PRIVATE`` for loopback and the other non-global ranges, else ``PUBLIC``.
    """
    if isinstance(address, ipaddress.IPv6Address):
        address = _reached_ipv4(address) or address
    if address in _METADATA_ADDRESSES or address.is_link_local:
        return Reach.NEVER
    if address.is_multicast or address.is_unspecified:
        return Reach.NEVER
    if address.is_loopback:
        # Before is_reserved: ::1 lies in IPv6's reserved ::/8.
        return Reach.PRIVATE
    if address.is_reserved:
        return Reach.NEVER
    return Reach.PUBLIC if address.is_global else Reach.PRIVATE


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _host_reach(host: str) -> Reach:
    if _is_address(host):
        return address_reach(ipaddress.ip_address(host))
    name = host.rstrip(".").lower()
    if "." not in name or name.endswith(tuple(f".{suffix}" for suffix in _LOCAL_SUFFIXES)):
        # A bare label is completed by the resolver's search domains: an internal host.
        return Reach.PRIVATE
    return Reach.PRIVATE if name in _LOCAL_SUFFIXES else Reach.PUBLIC


def callback_url_reach(url: str, *, https_only: bool) -> Reach:
    """Judge a callback URL as it is given, without DNS (at request time).

    Parameters
    ----------
    url : str
        An absolute http(s) URL (the decision schema parsed it already).
    https_only : bool
        Whether http is refused (outside demo mode).

    Returns
    -------
    Reach
        ``PRIVATE`` when the host is a loopback or private address literal or a local name,
        which only an application allowed private callbacks may use; else ``PUBLIC``.

    Raises
    ------
    DestinationRefusedError
        For another scheme, http where https is required, a URL without a host, or a host of
        reach ``NEVER``. The message names what is wrong, never the URL (its query string may
        hold the application's token).
    """
    try:
        parts = httpx.URL(url)
    except httpx.InvalidURL:
        parts = None
    if parts is None or parts.scheme not in {"http", "https"} or not parts.host:
        raise DestinationRefusedError("must be an absolute http or https URL")
    if https_only and parts.scheme != "https":
        raise DestinationRefusedError("must be an https URL")
    reach = _host_reach(parts.raw_host.decode("ascii"))
    if reach is Reach.NEVER:
        raise DestinationRefusedError(
            "must not name a metadata, link-local, multicast, unspecified or reserved address"
        )
    return reach


def system_resolver(host: str, port: int) -> list[str]:
    """Resolve a host with the operating system's resolver (``getaddrinfo``).

    Parameters
    ----------
    host : str
        A name or an address literal.
    port : int
        The port, as ``getaddrinfo`` wants one.

    Returns
    -------
    list of str
        Every address, in the resolver's order of preference, without repeats.

    Raises
    ------
    OSError
        ``socket.gaierror`` when the name does not resolve.
    """
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in found))


@dataclass(frozen=True, slots=True)
class Target:
    """How to send to a callback URL: to a checked address, presenting the URL's name.

    Attributes
    ----------
    url : httpx.URL
        The callback URL with the checked address in place of its host.
    headers : mapping of str to str
        ``Host``: the URL's own host and port.
    extensions : mapping
        ``sni_hostname`` for https to a name: TLS presents the name and verifies the
        certificate against it, not against the address.
    """

    url: httpx.URL
    headers: Mapping[str, str]
    extensions: Mapping[str, Any]


def resolve_destination(
    url: str, *, allow_private: bool, resolver: Resolver = system_resolver
) -> Target:
    """Resolve a callback URL once, judge every address, and say where to connect (send time).

    Parameters
    ----------
    url : str
        The callback URL as stored.
    allow_private : bool
        Whether the application's key has ``allow_private_callbacks``.
    resolver : callable, optional
        ``(host, port) -> addresses``; :func:`system_resolver` by default.

    Returns
    -------
    Target
        The first address the name resolves to, every one of them allowed.

    Raises
    ------
    DestinationRefusedError
        When the URL is not http(s), or any address the name resolves to is not allowed: a
        name that mixes public and private addresses could be steered to the private one.
    NameNotResolvedError
        When the name does not resolve, or the URL has no usable host.
    """
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise NameNotResolvedError("the URL does not parse") from None
    if parsed.scheme not in {"http", "https"} or not parsed.host:
        raise DestinationRefusedError("not an absolute http or https URL")
    host = parsed.raw_host.decode("ascii")  # IDNA-encoded, as DNS and SNI want it
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        found = resolver(host, port)
        addresses = [ipaddress.ip_address(address) for address in found]
    except (OSError, UnicodeError, ValueError):
        raise NameNotResolvedError("the name does not resolve") from None
    if not addresses:
        raise NameNotResolvedError("the name does not resolve")
    for address in addresses:
        reach = address_reach(address)
        if reach is Reach.NEVER or (reach is Reach.PRIVATE and not allow_private):
            raise DestinationRefusedError(f"the host resolves to an address of reach {reach.value}")
    chosen = addresses[0]  # a scoped IPv6 address ("fe80::1%eth0") is link-local: refused above
    extensions: dict[str, Any] = {}
    if parsed.scheme == "https" and not _is_address(host):
        extensions["sni_hostname"] = host
    return Target(
        url=parsed.copy_with(host=str(chosen)),
        headers={"Host": parsed.netloc.decode("ascii")},
        extensions=extensions,
    )
