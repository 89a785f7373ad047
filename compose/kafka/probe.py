"""Readiness probe of the local Kafka broker: sends one ApiVersions (v0) request and exits 0
when the broker answers it without error, 1 otherwise. Standard library only.

usage: python3 probe.py PORT [HOST]
"""
import socket
import struct
import sys


def main() -> int:
    port = int(sys.argv[1])
    host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    client_id = b"trestle-stack-probe"
    correlation_id = 0x7E57
    # request header v1: api_key=18 (ApiVersions), api_version=0, correlation_id, client_id
    body = struct.pack(">hhih", 18, 0, correlation_id, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=3) as sock:
            sock.settimeout(3)
            sock.sendall(struct.pack(">i", len(body)) + body)
            data = b""
            while len(data) < 4:
                chunk = sock.recv(4 - len(data))
                if not chunk:
                    return 1
                data += chunk
            (size,) = struct.unpack(">i", data)
            data = b""
            while len(data) < min(size, 6):
                chunk = sock.recv(size - len(data))
                if not chunk:
                    return 1
                data += chunk
    except OSError:
        return 1
    corr, error_code = struct.unpack(">ih", data[:6])
    return 0 if corr == correlation_id and error_code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
