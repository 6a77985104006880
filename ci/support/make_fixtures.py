#!/usr/bin/env python3
"""Writes testdata/inventory/rules/*.json: small inventories (schema 2), one
per built-in rule, each with listeners that pass and listeners that fail.
Run from the repository root after changing the inventory contract."""
import json
import os

HOST = 4026531840
CONTAINER = 4026532500


def ns(inode, host, names=(), containers=()):
    return {"dev": 4, "inode": inode, "names": list(names), "is_host": host, "sources": ["process"], "pids": [1],
            "hints": {"units": [], "containers": list(containers)},
            "interfaces": [{"name": "lo", "index": 1, "up": True, "addresses": ["127.0.0.1"]},
                           {"name": "eth0", "index": 2, "up": True, "addresses": ["10.0.0.5"]}]}


def listener(proto, address, port, scope, comm, netns=HOST, device=None, unit=None, exe=None):
    fam = "ipv6" if ":" in address or address == "*" else "ipv4"
    procs = []
    if comm:
        procs = [{"pid": 100 + port % 900, "fd": 3, "comm": comm, "exe": exe or f"/usr/sbin/{comm}",
                  "cmdline": [comm], "uid": 0, "unit": unit or f"{comm}.service", "container": None}]
    return {"netns": {"dev": 4, "inode": netns}, "protocol": proto, "family": fam, "address": address,
            "port": port, "bound_device": device, "v6only": (address != "*") if fam == "ipv6" else None,
            "scope": scope, "address_interfaces": [], "inode": 50000 + port, "uid": 0, "holders": procs,
            "owner_unknown_reason": None if comm else "no process holds a descriptor to it"}


def inventory(listeners, os_id="debian", namespaces=None):
    return {"schema_version": 2,
            "host": {"hostname": "fixture", "os_id": os_id, "os_version_id": "1", "kernel": "6.8.0", "arch": "x86_64"},
            "namespaces": namespaces or [ns(HOST, True)], "listeners": listeners, "gaps": []}


FIXTURES = {
    "wildcard": inventory([listener("tcp", "0.0.0.0", 8080, "wildcard", "nginx"),
                           listener("tcp", "10.0.0.5", 8081, "private", "nginx")], os_id="fedora"),
    "public": inventory([listener("tcp", "198.51.100.7", 443, "public", "nginx"),
                         listener("tcp", "10.0.0.5", 4443, "private", "nginx")], os_id="fedora"),
    "local-only": inventory([listener("tcp", "127.0.0.1", 5432, "loopback", "postgres"),
                             listener("tcp", "10.0.0.5", 6379, "private", "redis-server"),
                             listener("tcp", "10.0.0.5", 3306, "private", "mysqld")], os_id="fedora"),
    "risky": inventory([listener("udp", "10.0.0.5", 161, "private", "snmpd"),
                        listener("udp", "10.0.0.5", 631, "private", "cups-browsed"),
                        listener("tcp", "127.0.0.1", 2379, "loopback", "etcd")], os_id="fedora"),
    "profile-ubuntu": inventory([listener("udp", "10.0.0.5", 68, "private", "systemd-network", device="eth0"),
                                 listener("tcp", "*", 22, "dual-stack", "systemd", unit="ssh.socket"),
                                 listener("udp", "127.0.0.53", 53, "loopback", "systemd-resolve", device="lo"),
                                 listener("tcp", "10.0.0.5", 8000, "private", "python3")], os_id="ubuntu"),
    "expected": inventory([listener("tcp", "10.0.0.5", 22, "private", "sshd"),
                           listener("tcp", "10.0.0.5", 9100, "private", "node_exporter")], os_id="fedora"),
    "unknown-owner": inventory([listener("tcp", "127.0.0.1", 7000, "loopback", ""),
                                listener("tcp", "127.0.0.1", 7001, "loopback", "app")], os_id="fedora"),
    "namespaces": inventory([listener("tcp", "10.0.0.5", 80, "private", "nginx"),
                             listener("tcp", "0.0.0.0", 3000, "wildcard", "node", netns=CONTAINER)],
                            os_id="fedora",
                            namespaces=[ns(HOST, True), ns(CONTAINER, False, containers=["docker://0123abcd"])]),
}

out = "testdata/inventory/rules"
os.makedirs(out, exist_ok=True)
for name, inv in FIXTURES.items():
    with open(os.path.join(out, f"{name}.json"), "w") as f:
        json.dump(inv, f, indent=2)
        f.write("\n")
