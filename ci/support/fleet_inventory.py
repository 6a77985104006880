#!/usr/bin/env python3
"""Writes a fleet-shaped inventory (schema 2) to stdout, for the scale test
and the benchmarks: LISTENERS listeners in 40 namespaces, each held by
HOLDERS processes (prefork servers: a pool of processes shares the
sockets) with CMDLINE-byte command lines, a quarter of them on wildcards.

    fleet_inventory.py LISTENERS HOLDERS CMDLINE > inventory.json

Generated, never committed: at 50,000 x 4 x 2 KiB it is ~400 MB."""
import json
import sys

HOST = 4026531840


def main():
    listeners, holders, cmdline = (int(a) for a in sys.argv[1:4])
    namespaces = [{"dev": 4, "inode": HOST + i, "names": [f"ns{i}"] if i else [], "is_host": i == 0,
                   "sources": ["process"], "pids": [1000 + i],
                   "hints": {"units": [], "containers": [f"docker://{i:064x}"] if i else []},
                   "interfaces": [{"name": "lo", "index": 1, "up": True, "addresses": ["127.0.0.1"]},
                                  {"name": "eth0", "index": 2, "up": True, "addresses": [f"10.0.{i}.5"]}]}
                  for i in range(40)]
    out = sys.stdout
    out.write('{"schema_version":2,"host":{"hostname":"fleet","os_id":"debian","os_version_id":"12",'
              '"kernel":"6.1.0","arch":"x86_64"},"namespaces":')
    out.write(json.dumps(namespaces, separators=(",", ":")))
    out.write(',"listeners":[')
    pool = max(listeners * holders // 100, holders)
    arg = "x" * max(cmdline - 32, 1)
    for n in range(listeners):
        ns = n % 40
        wildcard = n % 4 == 0
        address = "0.0.0.0" if wildcard else f"10.0.{ns}.5"
        port = 1024 + n // 40 % 60000
        hs = []
        for k in range(holders):
            pid = 10000 + (n * holders + k) % pool
            hs.append({"pid": pid, "fd": 3 + k, "comm": f"server{pid % 50}", "exe": "/usr/sbin/server",
                       "cmdline": ["/usr/sbin/server", f"--worker={k}", arg], "uid": 0,
                       "unit": f"server{pid % 50}.service", "unit_file": None, "container": None})
        listener = {"netns": {"dev": 4, "inode": HOST + ns}, "protocol": "tcp" if n % 3 else "udp",
                    "family": "ipv4", "address": address, "port": port, "bound_device": None, "v6only": None,
                    "scope": "wildcard" if wildcard else "private", "address_interfaces": [] if wildcard else ["eth0"],
                    "inode": 100000 + n, "uid": 0, "holders": hs, "owner_unknown_reason": None}
        if n:
            out.write(",")
        out.write(json.dumps(listener, separators=(",", ":")))
    out.write('],"gaps":[]}\n')


if __name__ == "__main__":
    main()
