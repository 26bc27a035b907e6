"""Checks shared by the Azure components: errors that name the field, and Inputs checked late.

A component argument may be a plain value or a ``pulumi.Input`` that is only known after
another resource exists (a resource group's location, an azuread principal, a
StackReference's egress addresses). :func:`check_input` checks a plain value at once and an
Output inside ``apply``, so a bad value fails the deployment before the resource that uses
it is written, with the same message either way.

Example::

    from skyrelay.pulumi.components.validation import check_input, check_location
    location = check_input(group.location, lambda v: check_location("account 'a'", v))
"""

from __future__ import annotations

import inspect
import ipaddress
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import pulumi

from skyrelay import regions

T = TypeVar("T")


class AzureArgsError(ValueError):
    """An argument of an Azure component is invalid; the message says which and why."""


def fail(where: str, message: str) -> AzureArgsError:
    """An :class:`AzureArgsError` reading ``where: message``."""
    return AzureArgsError(f"{where}: {message}")


def one_of(where: str, value: object, allowed: Sequence[str]) -> None:
    """Raise unless ``value`` is in ``allowed``, listing the valid values."""
    if value not in allowed:
        raise fail(where, f"{value!r} is not one of {', '.join(allowed)}")


def is_known(value: object) -> bool:
    """True for a plain value: no Output or awaitable in it (lists are looked into)."""
    if isinstance(value, pulumi.Output) or inspect.isawaitable(value):
        return False
    if isinstance(value, list | tuple):
        return all(is_known(v) for v in value)
    return True


def check_input(value: Any, check: Callable[[Any], None]) -> Any:
    """``check(value)`` now when the value is plain; otherwise an Output that checks in apply.

    The returned Output carries the original's dependencies, so a resource given it still
    waits for the resource the value came from.
    """
    if is_known(value):
        check(value)
        return value

    def run(resolved: T) -> T:
        check(resolved)
        return resolved

    return pulumi.Output.from_input(value).apply(run)


def check_location(where: str, value: object) -> None:
    """Raise unless ``value`` is an Azure region name, listing the valid ones."""
    if value not in regions.AZURE_REGIONS:
        raise fail(f"{where}: location", f"{value!r} is not an Azure region; valid: "
                   + ", ".join(sorted(regions.AZURE_REGIONS)))


def check_cidr(where: str, cidr: str) -> None:
    """Raise :class:`AzureArgsError` unless ``cidr`` is a private IPv4 block of /8 to /29."""
    try:
        net = ipaddress.ip_network(cidr, strict=True)
    except ValueError as exc:
        raise fail(where, f"{cidr!r} is not a CIDR block: {exc}") from None
    if not isinstance(net, ipaddress.IPv4Network) or not net.is_private:
        raise fail(where, f"{cidr!r} must be a private IPv4 range (RFC 1918)")
    if not 8 <= net.prefixlen <= 29:
        raise fail(where, f"{cidr!r}: the prefix must be between /8 and /29")


def check_subnet_cidr(where: str, cidr: str | None, vnet_cidr: str) -> None:
    """Raise :class:`AzureArgsError` unless ``cidr`` (None: nothing to check) is a CIDR block
    inside ``vnet_cidr``.

    Example::

        check_subnet_cidr("private link", "10.100.0.0/25", "10.100.0.0/24")  # passes
    """
    if cidr is None:
        return
    check_cidr(where, cidr)
    if not ipaddress.IPv4Network(cidr).subnet_of(ipaddress.IPv4Network(vnet_cidr)):
        raise fail(where, f"{cidr} is not inside the virtual network's {vnet_cidr}")


#: Ranges that never appear as a public source address (RFC 1918, CGNAT, loopback, ...).
_NOT_PUBLIC = tuple(ipaddress.IPv4Network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.168.0.0/16", "240.0.0.0/4"))


def check_public_ips(where: str, values: Sequence[str]) -> None:
    """Raise unless every value is a public IPv4 address or range (Azure IP rules are v4)."""
    if isinstance(values, str):
        raise fail(where, f"{values!r}: give a list of addresses, not one string")
    for value in values:
        try:
            net = ipaddress.ip_network(value, strict=False)
        except (ValueError, TypeError):
            raise fail(where, f"{value!r} is not an IPv4 address or CIDR range") from None
        if not isinstance(net, ipaddress.IPv4Network):
            raise fail(where, f"{value!r}: Azure network rules take IPv4 only")
        if any(net.subnet_of(block) for block in _NOT_PUBLIC) or net.is_multicast:
            raise fail(where, f"{value!r} is not a public address; network rules match the "
                       "public egress address the service sees")


def check_guid(where: str, value: object) -> None:
    """Raise unless ``value`` is a GUID (an Entra object id, a role definition id)."""
    import uuid

    try:
        if not isinstance(value, str):
            raise ValueError(value)
        uuid.UUID(value)
    except ValueError:
        raise fail(where, f"{value!r} is not an Entra object id (a GUID)") from None
