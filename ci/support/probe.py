#!/usr/bin/env python3
"""Test helper: the kernel as the firewall oracle. Run inside the client
namespace; tries a TCP connect from each source address to each port of the
server address at once, and prints {"SRC PORT": "connected"|"refused"|"timeout"|
"half-open"|"reset"}. "connected" means the listener accepted it (listen.py with
"accept" closes it, and the end of stream comes back); "half-open" is a SYN-ACK
whose handshake never completed on the server.
A port written udp/N is tried with a datagram instead: "connected" when the
server's echo comes back, "refused" on an ICMP port unreachable.

Usage: probe.py SERVER_ADDR PORTS(comma) SOURCES(comma) [TIMEOUT_S]
"""
import json
import socket
import sys
import threading

server, ports, sources = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(",")
timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 1.5
results = {}


def probe_udp(src, port):
    key = f"{src} udp/{port}"
    s = socket.socket(socket.AF_INET6 if ":" in server else socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    try:
        s.connect((server, int(port)))
        s.send(b"portcullis probe")
        s.recv(64)
        results[key] = "connected"
    except ConnectionRefusedError:
        results[key] = "refused"
    except (socket.timeout, TimeoutError):
        results[key] = "timeout"
    finally:
        s.close()


def probe(src, port):
    if port.startswith("udp/"):
        return probe_udp(src, port[4:])
    s = socket.socket(socket.AF_INET6 if ":" in server else socket.AF_INET)
    s.settimeout(timeout)
    s.bind((src, 0))
    try:
        s.connect((server, int(port)))
        # connect() returns on the SYN-ACK; the listener has the connection
        # only once the handshake's ACK got in too. listen.py accepts and
        # closes at once, so an end of stream says it did.
        try:
            got = s.recv(1)
            results[f"{src} {port}"] = "connected" if got == b"" else "data"
        except (socket.timeout, TimeoutError):
            results[f"{src} {port}"] = "half-open"
        except ConnectionResetError:
            results[f"{src} {port}"] = "reset"
    except ConnectionRefusedError:
        results[f"{src} {port}"] = "refused"
    except (socket.timeout, TimeoutError):
        results[f"{src} {port}"] = "timeout"
    finally:
        s.close()


threads = [threading.Thread(target=probe, args=(s, p)) for s in sources for p in ports]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps(results, sort_keys=True))
