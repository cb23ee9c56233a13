"""The one place an address is written from a host and a port."""

from __future__ import annotations

from sunpower_pvs_exporter.pvs.hosts import host_port


def test_ipv6_hosts_are_bracketed_and_others_are_not():
    assert host_port("::1", 9110) == "[::1]:9110"
    assert host_port("fe80::1%eth0", 443) == "[fe80::1%eth0]:443"
    assert host_port("127.0.0.1", 80) == "127.0.0.1:80"
    assert host_port("pvs.local", 9002) == "pvs.local:9002"
