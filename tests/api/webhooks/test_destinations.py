"""Where a webhook may go: the address ranges, the request-time judgement of a URL as given,
and the send-time one of the addresses its name resolves to."""

from __future__ import annotations

import ipaddress

import pytest

from api.webhooks.destinations import (
    DestinationRefusedError,
    NameNotResolvedError,
    Reach,
    address_reach,
    callback_url_reach,
    resolve_destination,
)


@pytest.mark.parametrize(
    ("address", "reach"),
    [
        ("93.184.215.14", Reach.PUBLIC),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", Reach.PUBLIC),
        ("::ffff:93.184.215.14", Reach.PUBLIC),  # IPv4-mapped: judged as the IPv4 address
        ("127.0.0.1", Reach.PRIVATE),
        ("127.8.9.10", Reach.PRIVATE),
        ("::1", Reach.PRIVATE),
        ("10.0.0.1", Reach.PRIVATE),
        ("172.16.5.4", Reach.PRIVATE),
        ("192.168.1.1", Reach.PRIVATE),
        ("100.64.0.1", Reach.PRIVATE),  # shared address space (carrier-grade NAT)
        ("fd12:3456::1", Reach.PRIVATE),  # unique-local
        ("::ffff:127.0.0.1", Reach.PRIVATE),
        ("::ffff:10.0.0.1", Reach.PRIVATE),
        ("2002:7f00:1::", Reach.PRIVATE),  # 6to4 around 127.0.0.1
        ("64:ff9b::a00:1", Reach.PRIVATE),  # NAT64 around 10.0.0.1
        ("169.254.169.254", Reach.NEVER),  # AWS, GCP, Azure metadata
        ("169.254.170.2", Reach.NEVER),  # link-local
        ("fe80::1", Reach.NEVER),
        ("fd00:ec2::254", Reach.NEVER),
        ("100.100.100.200", Reach.NEVER),
        ("168.63.129.16", Reach.NEVER),
        ("::ffff:169.254.169.254", Reach.NEVER),
        ("0.0.0.0", Reach.NEVER),
        ("::", Reach.NEVER),
        ("224.0.0.1", Reach.NEVER),
        ("ff02::1", Reach.NEVER),
        ("240.0.0.1", Reach.NEVER),
        ("255.255.255.255", Reach.NEVER),
    ],
)
def test_address_reach(address: str, reach: Reach) -> None:
    assert address_reach(ipaddress.ip_address(address)) is reach


@pytest.mark.parametrize(
    ("url", "reach"),
    [
        ("https://hooks.shop.example/glassbox?token=t", Reach.PUBLIC),
        ("https://93.184.215.14:8443/", Reach.PUBLIC),
        ("https://localhost/", Reach.PRIVATE),
        ("https://LOCALHOST./", Reach.PRIVATE),
        ("https://api.localhost/", Reach.PRIVATE),
        ("https://printer.local/", Reach.PRIVATE),
        ("https://metadata.google.internal/", Reach.PRIVATE),  # resolves to link-local: NEVER
        ("https://router.home.arpa/", Reach.PRIVATE),
        ("https://postgres/", Reach.PRIVATE),  # one label: completed by search domains
        ("https://127.0.0.1:5432/", Reach.PRIVATE),
        ("https://[::1]/", Reach.PRIVATE),
        ("https://[::ffff:7f00:1]/", Reach.PRIVATE),
    ],
)
def test_a_url_is_judged_as_given_without_dns(url: str, reach: Reach) -> None:
    assert callback_url_reach(url, https_only=True) is reach


@pytest.mark.parametrize(
    ("url", "https_only", "why"),
    [
        ("http://hooks.shop.example/", True, "https"),
        ("ftp://hooks.shop.example/", False, "http or https"),
        ("https://169.254.169.254/latest/meta-data/", False, "metadata"),
        ("https://[fd00:ec2::254]/", False, "metadata"),
        ("https://0.0.0.0:8000/", False, "unspecified"),
        ("https://224.0.0.1/", False, "multicast"),
    ],
)
def test_a_url_refused_whatever_the_allowance(url: str, https_only: bool, why: str) -> None:
    with pytest.raises(DestinationRefusedError, match=why) as refused:
        callback_url_reach(url, https_only=https_only)
    assert "shop" not in str(refused.value)  # the message never quotes the URL


def test_http_is_allowed_in_demo_mode() -> None:
    assert callback_url_reach("http://hooks.shop.example/", https_only=False) is Reach.PUBLIC


def test_the_target_is_the_checked_address_with_the_name_as_host_and_sni() -> None:
    target = resolve_destination(
        "https://hooks.shop.example:8443/glassbox?token=t",
        allow_private=False,
        resolver=lambda host, port: ["2606:2800:21f:cb07:6820:80da:af6b:8b2c", "93.184.215.14"],
    )
    assert (
        str(target.url) == "https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]:8443/glassbox?token=t"
    )
    assert target.headers == {"Host": "hooks.shop.example:8443"}
    assert target.extensions == {"sni_hostname": "hooks.shop.example"}


def test_an_address_literal_gets_no_sni_and_an_idn_is_resolved_encoded() -> None:
    target = resolve_destination(
        "https://93.184.215.14/h", allow_private=False, resolver=lambda host, port: [host]
    )
    assert str(target.url) == "https://93.184.215.14/h" and target.extensions == {}
    asked: list[tuple[str, int]] = []

    def resolver(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return ["93.184.215.14"]

    target = resolve_destination("http://bücher.example/", allow_private=False, resolver=resolver)
    assert asked == [("xn--bcher-kva.example", 80)]
    assert target.headers == {"Host": "xn--bcher-kva.example"} and target.extensions == {}


def test_the_allowance_lets_private_addresses_through_but_never_metadata() -> None:
    def local(host: str, port: int) -> list[str]:
        return ["10.1.2.3"]

    with pytest.raises(DestinationRefusedError):
        resolve_destination("https://hooks.corp.example/", allow_private=False, resolver=local)
    target = resolve_destination("https://hooks.corp.example/", allow_private=True, resolver=local)
    assert target.url.host == "10.1.2.3"
    with pytest.raises(DestinationRefusedError):
        resolve_destination(
            "https://hooks.corp.example/",
            allow_private=True,
            resolver=lambda host, port: ["169.254.169.254"],
        )


def test_a_name_that_does_not_resolve() -> None:
    def nothing(host: str, port: int) -> list[str]:
        raise OSError("no such name")

    with pytest.raises(NameNotResolvedError):
        resolve_destination("https://gone.example/", allow_private=False, resolver=nothing)
    with pytest.raises(NameNotResolvedError):
        resolve_destination(
            "https://gone.example/", allow_private=False, resolver=lambda host, port: []
        )
