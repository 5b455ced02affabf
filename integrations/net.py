"""The one way out to a URL a user gave (ICS feeds, CalDAV): addresses checked, then pinned.

A user-given URL must not make the server read its own network (SSRF). Every host name is
resolved once, here; each address is checked against the policy and only checked addresses are
connected to, so a second DNS answer (rebinding) cannot slip in. The check sits in the resolver
of a niquests session (the library caldav uses too), so it runs for every new connection: the
first request, each redirect, and the caldav library's own requests. The URL keeps its host
name, so the Host header, TLS SNI and certificate verification are for the name.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import niquests

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
# What `allow_private_networks = true` opens: the owner's own machine and LAN. Link-local
# (169.254.169.254 is the cloud metadata service) and multicast stay closed.
_PRIVATE_KINDS = frozenset({"loopback", "private network", "reserved", "unspecified"})
_ALLOW_HINT = "an administrator can allow it with [security] allow_private_networks"


@dataclass(frozen=True)
class NetworkPolicy:
    """Which addresses user-given URLs may reach; the default allows public addresses only."""

    allow_private: bool = False
    allowed: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_config(cls, config: Any) -> NetworkPolicy:
        """The policy of a Config's [security] table (the safe default when config is None)."""
        security = getattr(config, "security", None)
        if security is None:
            return cls()
        return cls(
            allow_private=security.allow_private_networks,
            allowed=tuple(ipaddress.ip_network(n, strict=False) for n in security.allowed_networks),
        )

    def refusal(self, address: str | IPAddress) -> str | None:
        """Why this IP address may not be connected to (e.g. "loopback"); None when it may."""
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
        embedded = _embedded_ipv4(ip)
        if any(a in n for a in (ip, embedded) if a is not None for n in self.allowed):
            return None
        kind = address_kind(ip)
        if kind is None or (self.allow_private and kind in _PRIVATE_KINDS):
            return None
        return kind


def address_kind(ip: IPAddress) -> str | None:
    """What makes an address non-public ("loopback", "link-local"...); None for public ones."""
    embedded = _embedded_ipv4(ip)
    if embedded is not None:  # ::ffff:127.0.0.1 is 127.0.0.1, and so on
        return address_kind(embedded)
    if ip.is_unspecified:
        return "unspecified"  # 0.0.0.0 and :: reach the local machine
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_private:
        return "private network"
    if ip.is_reserved:
        return "reserved"
    if not ip.is_global:
        return "private network"  # e.g. 100.64.0.0/10, carrier-grade NAT
    return None


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, NAT64, 6to4, Teredo), if any."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


class AddressRefused(OSError):
    """A host resolved only to addresses the policy refuses; raised before any connection."""

    def __init__(self, host: str, kind: str) -> None:
        super().__init__(f"{host}: {kind} addresses are not contacted")
        self.host = host
        self.kind = kind


@cache  # one class, defined on first use: importing this module loads no HTTP library
def _resolver_class() -> type:
    from niquests.packages.urllib3.contrib.resolver.system import SystemResolver

    class GuardedResolver(SystemResolver):
        """The system resolver, keeping only the addresses the policy allows."""

        def __init__(self, policy: NetworkPolicy) -> None:
            super().__init__()
            self.policy = policy

        def getaddrinfo(
            self,
            host: bytes | str | None,
            port: str | int | None,
            family: socket.AddressFamily,
            type: socket.SocketKind,
            proto: int = 0,
            flags: int = 0,
            *,
            quic_upgrade_via_dns_rr: bool = False,
        ) -> list[Any]:
            name = host.decode() if isinstance(host, bytes) else (host or "localhost")
            records = socket.getaddrinfo(name, port, family, type, proto, flags)
            return _allowed(self.policy, name, records)

    return GuardedResolver


def _allowed(policy: NetworkPolicy, name: str, records: list[Any]) -> list[Any]:
    """The address records of `name` that `policy` allows; AddressRefused when none is."""
    verdicts = [policy.refusal(_ip_of(str(r[4][0]))) for r in records]
    allowed = [r for r, refused in zip(records, verdicts, strict=True) if refused is None]
    if not allowed:
        raise AddressRefused(name, next((k for k in verdicts if k), "refused"))
    return allowed


def url_refusal(url: str, policy: NetworkPolicy) -> str | None:
    """Why a URL a user gives will never be read (its host resolves only to addresses the
    policy refuses), in words; None when it may be, or cannot be resolved now (a read says so)."""
    parts = urlsplit(url)
    try:
        port = parts.port or (80 if parts.scheme.lower() == "http" else 443)
        records = socket.getaddrinfo(parts.hostname or "localhost", port, type=socket.SOCK_STREAM)
        _allowed(policy, parts.hostname or "localhost", records)
    except AddressRefused as exc:
        return why(exc)
    except (OSError, UnicodeError, ValueError):  # no such host (yet), a port out of range
        return None
    return None


def _ip_of(text: str) -> IPAddress:
    return ipaddress.ip_address(text.split("%", 1)[0])  # fe80::1%eth0 carries a scope


def open_session(policy: NetworkPolicy) -> niquests.Session:
    """A session whose every connection goes only to addresses `policy` allows.

    Proxies and .netrc from the environment are ignored (a proxy would connect for us,
    unchecked), and HTTP/3 is off (its QUIC upgrade is not a TCP connection we check).
    """
    import niquests

    session = niquests.Session(resolver=_resolver_class()(policy), disable_http3=True)
    session.trust_env = False
    return session


def refused_in(exc: BaseException) -> AddressRefused | None:
    """The AddressRefused behind a library's connection error, if that was the cause."""
    for cause in _causes(exc):
        if isinstance(cause, AddressRefused):
            return cause
    return None


def why(exc: BaseException) -> str:
    """The root cause of a connection failure in words: refused by policy, DNS, reset, TLS..."""
    refused = refused_in(exc)
    if refused is not None:
        hint = f" ({_ALLOW_HINT})" if refused.kind in _PRIVATE_KINDS else ""
        return f"{refused.host}: {refused.kind} addresses are not contacted{hint}"
    causes = list(_causes(exc))
    for cause in causes:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused (nothing is listening there)"
        if isinstance(cause, socket.gaierror) or "NameResolution" in type(cause).__name__:
            return "the host name could not be resolved (DNS)"
        if isinstance(cause, TimeoutError | socket.timeout):
            return "timed out"
        if isinstance(cause, ConnectionResetError):
            return "the connection was reset"
        if "SSL" in type(cause).__name__:
            return f"TLS error: {cause}"
    text = str(exc)
    if "Failed to resolve" in text or "Name or service not known" in text:
        return "the host name could not be resolved (DNS)"
    if "Connection refused" in text:
        return "connection refused (nothing is listening there)"
    # Not the library's text: it quotes the URL's path, which for a feed may hold a secret.
    return f"the connection failed ({type(causes[-1]).__name__})"


def _causes(exc: BaseException) -> Iterable[BaseException]:
    """`exc` and everything it wraps (args, reason, __cause__, __context__), each once."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend(a for a in getattr(current, "args", ()) if isinstance(a, BaseException))
        for attr in ("reason", "__cause__", "__context__"):
            nested = getattr(current, attr, None)
            if isinstance(nested, BaseException):
                stack.append(nested)
