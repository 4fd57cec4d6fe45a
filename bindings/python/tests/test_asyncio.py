"""asyncio runs on XpollSelector, on every backend."""
import asyncio
import socket
import threading
import time

from conftest import ensure_descriptors
from xpoll.selectors import XpollSelector


def run(backend, coro_fn, timeout=60):
    loop = asyncio.SelectorEventLoop(XpollSelector(backend))
    try:
        return loop.run_until_complete(asyncio.wait_for(coro_fn(), timeout))
    finally:
        loop.close()


def test_echo_server_with_a_thousand_concurrent_clients(backend):
    assert ensure_descriptors(2200)
    clients = 1000

    async def main():
        async def echo(reader, writer):
            while line := await reader.readline():
                writer.write(line)
                await writer.drain()
            writer.close()

        server = await asyncio.start_server(echo, "127.0.0.1", 0, backlog=clients)
        port = server.sockets[0].getsockname()[1]
        connected = asyncio.Event()
        count = 0

        async def client(i):
            nonlocal count
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            count += 1
            if count == clients:
                connected.set()
            await connected.wait()                     # all 1,000 open at once
            replies = []
            for k in range(3):
                writer.write(f"client {i} line {k}\n".encode())
                replies.append(await reader.readline())
            writer.close()
            await writer.wait_closed()
            return replies == [f"client {i} line {k}\n".encode() for k in range(3)]

        results = await asyncio.gather(*(client(i) for i in range(clients)))
        server.close()
        await server.wait_closed()
        return results

    results = run(backend, main)
    assert len(results) == clients and all(results)


def test_timers_fire_in_order(backend):
    async def main():
        loop = asyncio.get_running_loop()
        fired = []
        done = loop.create_future()
        start = loop.time()
        for delay in (0.06, 0.02, 0.04):
            loop.call_later(delay, lambda d=delay: fired.append((d, loop.time() - start)))
        loop.call_later(0.08, done.set_result, None)
        await done
        return fired

    fired = run(backend, main)
    assert [d for d, _ in fired] == [0.02, 0.04, 0.06]
    assert all(at >= d - 0.005 for d, at in fired)


def test_run_in_executor_wakes_the_loop(backend):
    async def main():
        loop = asyncio.get_running_loop()
        start = time.monotonic()
        value = await loop.run_in_executor(None, lambda: (time.sleep(0.05), 42)[1])
        return value, time.monotonic() - start

    value, took = run(backend, main)
    assert value == 42 and took < 5


def test_call_soon_threadsafe_from_another_thread(backend):
    async def main():
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        t = threading.Timer(0.05, lambda: loop.call_soon_threadsafe(fut.set_result, "from thread"))
        t.start()
        try:
            return await fut
        finally:
            t.join()

    assert run(backend, main) == "from thread"


def test_sock_operations(backend):
    async def main():
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        a.setblocking(False)
        b.setblocking(False)
        await loop.sock_sendall(a, b"ping")
        data = await loop.sock_recv(b, 4)
        a.close()
        b.close()
        return data

    assert run(backend, main) == b"ping"
