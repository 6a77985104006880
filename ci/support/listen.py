#!/usr/bin/env python3
"""Test helper: opens the sockets a test asks for, then waits to be killed.

Usage: listen.py SPEC_JSON|@SPEC_FILE [extra argv ignored, for odd command lines]

SPEC: {
  "comm": "<hex bytes for /proc/self/comm>",        optional
  "forks": N,                                        children sharing every socket
  "hold_netns": ["/path/to/nsfs", ...],              keep these namespaces open
  "accept": true,                                    accept and close TCP connections
                                                     (else they queue up to the backlog),
                                                     and echo UDP datagrams back
  "sockets": [{
      "proto": "tcp"|"udp", "addr": "::", "port": 0,
      "v6only": true|false,                          IPv6 only
      "device": "veth0",                             SO_BINDTODEVICE
      "netns": "/path/to/nsfs",                      create it inside that namespace
      "connect": ["127.0.0.1", 9]                    UDP: connect after bind
  }]
}

Prints one JSON line when ready:
  {"pid": P, "children": [...], "sockets": [{"fd": F, "port": N, "inode": I}], "held": [fd, ...]}
"""
import ctypes
import json
import os
import signal
import socket
import sys

CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
libc = ctypes.CDLL(None, use_errno=True)


def setns(fd):
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def open_socket(spec):
    family = socket.AF_INET6 if ":" in spec["addr"] else socket.AF_INET
    kind = socket.SOCK_STREAM if spec["proto"] == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(family, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if "v6only" in spec:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1 if spec["v6only"] else 0)
    if "device" in spec:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, spec["device"].encode())
    s.bind((spec["addr"], spec.get("port", 0)))
    if spec["proto"] == "tcp":
        s.listen(16)
    elif "connect" in spec:
        s.connect(tuple(spec["connect"]))
    return s


def main():
    arg = sys.argv[1]
    spec = json.load(open(arg[1:])) if arg.startswith("@") else json.loads(arg)
    own_ns = os.open("/proc/self/ns/net", os.O_RDONLY)
    held = [os.open(p, os.O_RDONLY) for p in spec.get("hold_netns", [])]
    sockets = []
    for s in spec.get("sockets", []):
        if "netns" in s:
            ns = os.open(s["netns"], os.O_RDONLY)
            setns(ns)
            try:
                sockets.append(open_socket(s))
            finally:
                setns(own_ns)
                os.close(ns)
        else:
            sockets.append(open_socket(s))
    os.close(own_ns)
    if "comm" in spec:
        with open("/proc/self/comm", "wb") as f:
            f.write(bytes.fromhex(spec["comm"]))
    children = []
    for _ in range(spec.get("forks", 0)):
        pid = os.fork()
        if pid == 0:
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            while True:
                signal.pause()
        children.append(pid)
    report = {
        "pid": os.getpid(),
        "children": children,
        "sockets": [{"fd": s.fileno(), "port": s.getsockname()[1], "inode": os.fstat(s.fileno()).st_ino} for s in sockets],
        "held": held,
    }
    if spec.get("accept"):
        import threading

        def serve(listener):
            while True:
                listener.accept()[0].close()

        def echo(sock):
            while True:
                data, peer = sock.recvfrom(2048)
                sock.sendto(data, peer)

        for s in sockets:
            if s.type == socket.SOCK_STREAM:
                threading.Thread(target=serve, args=(s,), daemon=True).start()
            elif not _connected(s):  # a connected UDP socket only sends
                threading.Thread(target=echo, args=(s,), daemon=True).start()
    print(json.dumps(report), flush=True)
    sys.stdin.read()  # until the test closes our stdin or kills us


def _connected(sock):
    try:
        sock.getpeername()
        return True
    except OSError:
        return False


if __name__ == "__main__":
    main()
