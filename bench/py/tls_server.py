# SPDX-License-Identifier: MIT
"""Python peer of bench/tls.sh: asyncio streams over ssl on uvloop.

  --mode echo  echoes what it reads (reader.read(65536), write, drain)
  --mode http  GET / -> "Hello, World!" (text/plain), keep-alive, a minimal
               HTTP/1.1 loop on the streams (asyncio has no HTTP server)

TLS 1.3 only; the cipher suite and group come from OpenSSL's configuration
(bench/tls.sh sets OPENSSL_CONF: TLS_AES_128_GCM_SHA256, X25519), as for
cio.  Prints "Serving on 127.0.0.1:PORT", serves until killed.

Usage: tls_server.py --cert CERT --key KEY [--mode echo|http] [--loop uvloop|asyncio]
"""
import argparse
import asyncio
import ssl

RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
            b"Content-Length: 13\r\n\r\nHello, World!")


async def echo(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    writer.close()


async def http(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if not head:
                break
            writer.write(RESPONSE)
            await writer.drain()
    except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
        pass
    writer.close()


async def main(args):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(args.cert, args.key)
    handler = http if args.mode == "http" else echo
    srv = await asyncio.start_server(handler, "127.0.0.1", args.port, ssl=ctx, backlog=4096)
    port = srv.sockets[0].getsockname()[1]
    print(f"Serving on 127.0.0.1:{port}", flush=True)
    async with srv:
        await srv.serve_forever()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--mode", default="echo")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--loop", default="uvloop")
    a = p.parse_args()
    if a.loop == "uvloop":
        import uvloop
        uvloop.install()
    asyncio.run(main(a))
