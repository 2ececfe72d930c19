"""A webhook sink: answers every request 200 at once and counts the POSTs (asyncio, one
process), so the benchmark measures the payment center's delivery, not the merchant."""
import asyncio
import sys

count = 0


async def read_request(reader):
    """One HTTP/1.1 request off a keep-alive connection; answers its head (the body is read
    and dropped)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    if length:
        await reader.readexactly(length)
    return head


async def handle(reader, writer):
    global count
    try:
        while True:
            head = await read_request(reader)
            if head.startswith(b"POST"):
                count += 1
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: " + str(len(str(count))).encode() + b"\r\n\r\n" + str(count).encode())
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port):
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
