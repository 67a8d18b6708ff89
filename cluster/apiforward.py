"""Forwards TCP from ADDRESS:PORT inside a network namespace to 127.0.0.1:PORT of this one.

The test node's kubelet and hostNetwork pods live in a lab's namespace and reach the API server,
which listens on the host's loopback only, through this: no host interface, address or route is
added. The listening socket is made inside the namespace (by a thread that joined it); every
connection to the API server is made from here.

    python cluster/apiforward.py NETNS PORT [ADDRESS...]     # default address: 127.0.0.1

The node's pods reach it through the `kubernetes` Service (kube-proxy sends 10.96.0.1:443 to the
node's address, where this listens too).
"""

from __future__ import annotations

import asyncio
import socket
import sys

from iot_emulator.lab import netns


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


async def _connection(port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        writer.close()
        return
    await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True)


async def serve(namespace: str, port: int, addresses: list[str]) -> None:
    servers = []
    for address in addresses:
        listener = netns.socket_in(namespace, socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((address, port))
        listener.listen(256)
        listener.setblocking(False)
        servers.append(await asyncio.start_server(lambda r, w: _connection(port, r, w), sock=listener))
    await asyncio.gather(*(server.serve_forever() for server in servers))


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], int(sys.argv[2]), sys.argv[3:] or ["127.0.0.1"]))
