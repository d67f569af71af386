"""The listening socket `serve --workers N` shares: its options are what every accepted connection starts with."""

from __future__ import annotations

import socket

from regledger.workers import listen


def test_the_shared_listener_turns_nagle_off_and_lets_workers_share_the_port():
    first = listen("127.0.0.1", 0, reuse_port=True)
    try:
        port = first.getsockname()[1]
        assert first.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert first.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) != 0
        second = listen("127.0.0.1", port, reuse_port=True)  # a second worker on the same port
        second.close()
        client = socket.create_connection(("127.0.0.1", port), timeout=5)
        try:
            conn, _ = first.accept()
            assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0  # inherited from the listener
            conn.close()
        finally:
            client.close()
    finally:
        first.close()
