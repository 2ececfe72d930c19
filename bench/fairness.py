"""Two servers for the fairness scenario, in one asyncio process:
- HANG_PORT accepts connections and never answers (merchant A's hanging endpoint);
- SHOP_PORT answers every request 200 and appends the arrival time of each POST (unix seconds)
  to ARRIVALS (merchant B's shop).
Usage: fairness.py HANG_PORT SHOP_PORT ARRIVALS"""
import asyncio
import sys
import time

from sink import read_request

held = []


async def hang(reader, writer):
    held.append(writer)
    try:
        while await reader.read(65536):
            pass
    except ConnectionError:
        pass


async def shop(reader, writer, arrivals):
    try:
        while True:
            head = await read_request(reader)
            if head.startswith(b"POST"):
                with open(arrivals, "a") as f:
                    f.write("%.6f\n" % time.time())
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\nsuccess")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(hang_port, shop_port, arrivals):
    a = await asyncio.start_server(hang, "127.0.0.1", hang_port, backlog=1024)
    b = await asyncio.start_server(lambda r, w: shop(r, w, arrivals), "127.0.0.1", shop_port)
    async with a, b:
        await asyncio.gather(a.serve_forever(), b.serve_forever())


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]))
