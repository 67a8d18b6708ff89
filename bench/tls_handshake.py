"""What completing TLS costs a device, against hello-only: full handshakes per second vs ClientHellos per second.

Before the devices completed their handshakes, a TLS session was a ClientHello and a read of the
ServerHello. Now the client does key exchange, key schedule, record protection and a request.
This measures both on this machine's CPU, for the shipped profiles' hellos, against OpenSSL
(Python's ssl on memory BIOs, ECDSA and RSA certificates, client preference like the lab's
nginx), and prints the cost per handshake in the client alone (OpenSSL's share is measured
apart and subtracted). No network: nothing is sent anywhere.

    .venv/bin/python bench/tls_handshake.py [--rounds 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import ssl
import statistics
import tempfile
import time
from pathlib import Path

from iot_emulator.lab import internet
from iot_emulator.profiles import catalog
from iot_emulator.protocols.transport import tls_client, tls_hello

REQUEST = b"GET / HTTP/1.1\r\nHost: cloud\r\nConnection: close\r\n\r\n"
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


def server_context(directory: Path) -> ssl.SSLContext:
    internet.make_certificates(directory)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_ciphers("ALL:@SECLEVEL=0")
    context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    context.load_cert_chain(directory / "rsa-cert.pem", directory / "rsa-key.pem")
    return context


def session(context: ssl.SSLContext, tls: catalog.TlsClientHello, rng: random.Random) -> tuple[float, float]:
    """One full session; (seconds in our client, seconds in OpenSSL)."""
    ours = theirs = 0.0
    t0 = time.perf_counter()
    client = tls_client.TlsClient(tls_hello.build_hello(tls, tls.servers[0], rng), rng)
    ours += time.perf_counter() - t0
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    server = context.wrap_bio(incoming, outgoing, server_side=True)
    requested = False
    for _ in range(20):
        t0 = time.perf_counter()
        data = client.data_to_send()
        ours += time.perf_counter() - t0
        t0 = time.perf_counter()
        incoming.write(data)
        try:
            server.do_handshake()
            if requested and server.read(4096):
                server.write(RESPONSE)
        except ssl.SSLWantReadError:
            pass
        answer = outgoing.read()
        theirs += time.perf_counter() - t0
        t0 = time.perf_counter()
        client.receive(answer)
        if client.state == "established" and not requested:
            client.send(REQUEST)
            requested = True
        done = client.received.endswith(b"\r\n\r\n")
        ours += time.perf_counter() - t0
        if done or client.state not in ("hello", "handshake", "established"):
            break
    if not client.received.startswith(b"HTTP/1.1 200"):
        raise SystemExit(f"{tls.servers[0]}: no answer ({client.state}, {client.failure})")
    return ours, theirs


def hellos_only(tls: catalog.TlsClientHello, rng: random.Random, rounds: int) -> float:
    t0 = time.perf_counter()
    for _ in range(rounds):
        tls_hello.build_hello(tls, tls.servers[0], rng)
    return (time.perf_counter() - t0) / rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    refused = {"bd-alaris-gateway-workstation"}  # RC4/3DES only: no OpenSSL 3 server completes it
    profiles = [p for p in catalog.builtin() if p.tls and p.name not in refused]
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        context = server_context(Path(tmp))
        print(
            f"{'profile':32} {'hello only':>12} {'full session':>14} {'ratio':>7}  (client CPU, median of "
            f"{args.repeat} x {args.rounds})"
        )
        ratios, fulls = [], []
        for prof in profiles:
            assert prof.tls is not None
            baseline = statistics.median(hellos_only(prof.tls, rng, args.rounds) for _ in range(args.repeat))
            runs = []
            for _ in range(args.repeat):
                total = sum(session(context, prof.tls, rng)[0] for _ in range(args.rounds))
                runs.append(total / args.rounds)
            full = statistics.median(runs)
            ratios.append(full / baseline)
            fulls.append(full)
            print(f"{prof.name:32} {baseline * 1e6:10.0f}us {full * 1e6:12.0f}us {full / baseline:6.1f}x")
        print(
            f"\nmedian ratio {statistics.median(ratios):.1f}x; at one session per device per minute, "
            f"1,000 devices cost {max(fulls) * 1000 / 60 * 100:.1f}% of one core at most (the costliest profile)"
        )


if __name__ == "__main__":
    main()
