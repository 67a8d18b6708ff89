"""The lab internet's RTSP server: answers what an NVR or a client asks a camera, and logs each request.

Debian packages no standalone RTSP server (live555's media server is not in Debian; GStreamer's
RTSP server is a library), so the sink runs this one: `python -m iot_emulator.lab.rtsp_sink
--address A --port 554 --log FILE`. It answers RFC 2326 OPTIONS, DESCRIBE (an SDP for one H.264
video stream), SETUP, PLAY, GET_PARAMETER and TEARDOWN with 200 and the request's CSeq, and never
sends media: a device's RTSP session completes on the wire, which is what a classifier reads. Each
request is one log line: `<client address> <METHOD> <URL> "<User-Agent>"`.

Bounded: a request head over MAX_HEAD bytes closes the connection, and so do MAX_IDLE seconds
without a request.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
from pathlib import Path
from typing import TextIO

MAX_HEAD = 8192
MAX_IDLE = 60.0
SERVER = "iotemu-lab RTSP"
SDP = (
    "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=lab\r\nt=0 0\r\n"
    "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:trackID=1\r\n"
)
PUBLIC = "OPTIONS, DESCRIBE, SETUP, PLAY, GET_PARAMETER, TEARDOWN"


def answer(head: str) -> tuple[bytes, str, str, str]:
    """The reply to one request head, and (method, URL, User-Agent) to log."""
    first, *lines = head.split("\r\n")
    method, url, _ = [*first.split(" "), "", "", ""][:3]
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    reply = ["RTSP/1.0 200 OK", f"CSeq: {headers.get('cseq', '0')}", f"Server: {SERVER}"]
    body = b""
    if method == "OPTIONS":
        reply.append(f"Public: {PUBLIC}")
    elif method == "DESCRIBE":
        body = SDP.encode()
        reply += [f"Content-Base: {url}/", "Content-Type: application/sdp"]
    elif method == "SETUP":
        transport = headers.get("transport", "RTP/AVP;unicast;client_port=0-1")
        reply += [f"Transport: {transport}", f"Session: {secrets.token_hex(4)};timeout=60"]
    elif method in ("PLAY", "GET_PARAMETER", "TEARDOWN") and "session" in headers:
        reply.append(f"Session: {headers['session']}")
    if body:
        reply.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(reply) + "\r\n\r\n").encode() + body, method, url, headers.get("user-agent", "")


async def _client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, log: TextIO) -> None:
    peer = writer.get_extra_info("peername")[0]
    try:
        while True:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), MAX_IDLE)
            reply, method, url, agent = answer(head[:-4].decode("latin-1"))
            length = next(
                (
                    int(v)
                    for k, _, v in (line.partition(":") for line in head.decode("latin-1").split("\r\n"))
                    if k.strip().lower() == "content-length" and v.strip().isdigit()
                ),
                0,
            )
            if length:
                await reader.readexactly(min(length, MAX_HEAD))
            log.write(f'{peer} {method} {url} "{agent}"\n')
            log.flush()
            writer.write(reply)
            await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve(address: str, ports: list[int], log_path: Path) -> None:
    with log_path.open("a") as log:
        servers = [
            await asyncio.start_server(lambda r, w: _client(r, w, log), address, port, limit=MAX_HEAD) for port in ports
        ]
        await asyncio.gather(*(server.serve_forever() for server in servers))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--address", required=True)
    parser.add_argument("--port", type=int, action="append", required=True, help="repeatable")
    parser.add_argument("--log", type=Path, required=True)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.address, args.port, args.log))


if __name__ == "__main__":
    main()
