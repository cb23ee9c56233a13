"""Accepting on a real listening socket (``web/acceptor.py``).

A refused socket is reset before asyncio makes a protocol for it; an allowed
one is served by the protocol; running out of file descriptors pauses
accepting instead of spinning; closing stops accepting.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import AsyncIterator

import pytest

from sunpower_pvs_exporter.web.acceptor import Acceptor


class Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


@pytest.fixture
async def listening() -> AsyncIterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.0)
    try:
        yield sock
    finally:
        sock.close()


async def connect_and_read(port: int, source: str) -> bytes:
    async with asyncio.timeout(5):
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        try:
            return await reader.read()
        finally:
            writer.close()


async def test_a_refused_socket_is_reset_before_any_protocol_and_another_is_served(
    listening: socket.socket,
):
    made: list[Echo] = []
    asked: list[str | None] = []

    def factory() -> Echo:
        made.append(Echo())
        return made[-1]

    def allow(address: str | None) -> bool:
        asked.append(address)
        return address != "127.0.0.3"

    acceptor = Acceptor(listening, factory, allow)
    acceptor.start()
    port = listening.getsockname()[1]
    try:
        # A reset, not an orderly close (it may come before the connect call returns).
        with pytest.raises(ConnectionResetError):
            await connect_and_read(port, "127.0.0.3")
        assert made == [] and acceptor.refused == 1

        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, local_addr=("127.0.0.4", 0)
        )
        writer.write(b"ping")
        async with asyncio.timeout(5):
            assert await reader.readexactly(4) == b"ping"
        writer.close()
        assert len(made) == 1 and asked == ["127.0.0.3", "127.0.0.4"]
    finally:
        acceptor.close()
    listening.close()  # as the asyncio.Server that bound it does: the duplicate is closed too
    with pytest.raises(OSError):  # nothing listens any more
        await asyncio.open_connection("127.0.0.1", port)


async def test_a_backlog_of_refused_sockets_is_drained_in_turns_of_at_most_backlog(
    listening: socket.socket,
):
    acceptor = Acceptor(listening, Echo, lambda _address: False, backlog=4)
    acceptor.sock.listen(16)  # queue them up before accepting starts
    port = listening.getsockname()[1]
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(10)]
    try:
        acceptor.accept_ready()
        assert acceptor.refused == 4  # one turn: at most backlog
        acceptor.start()
        async with asyncio.timeout(5):
            while acceptor.refused < 10:  # noqa: ASYNC110 - the loop's reader, not ours, counts
                await asyncio.sleep(0.01)
    finally:
        acceptor.close()
        for client in clients:
            client.close()


class OutOfFiles(socket.socket):
    def accept(self) -> tuple[socket.socket, object]:
        raise OSError(errno.EMFILE, "Too many open files")


async def test_out_of_file_descriptors_pauses_accepting_then_resumes(
    listening: socket.socket, caplog: pytest.LogCaptureFixture
):
    acceptor = Acceptor(listening, Echo, lambda _address: True, retry_delay=0.05)
    acceptor.sock = OutOfFiles(fileno=acceptor.sock.detach())
    acceptor.sock.settimeout(0.0)
    acceptor.start()
    try:
        assert acceptor.accepting
        acceptor.accept_ready()
        assert "cannot accept connections" in caplog.text and "pausing for 0.05 s" in caplog.text
        assert not acceptor.accepting  # not spinning on a socket it cannot accept from
        async with asyncio.timeout(5):
            while not acceptor.accepting:  # noqa: ASYNC110 - resumed by the loop's timer
                await asyncio.sleep(0.01)
    finally:
        acceptor.close()
    assert not acceptor.accepting
