"""What the installed package carries besides the Python code: the probe command, and xpoll.asyncio."""
import asyncio
import json
import os
import socket
import subprocess
import sys

import pytest

import xpoll
import xpoll.asyncio
from xpoll.selectors import XpollSelector

PKG = os.path.dirname(os.path.abspath(xpoll.__file__))


def probe_command(*args):
    env = {k: v for k, v in os.environ.items() if k not in ("XPOLL_LIBRARY", "LD_LIBRARY_PATH")}
    return subprocess.run([sys.executable, "-m", "xpoll.probe", *args], env=env, capture_output=True, text=True,
                          timeout=120, cwd="/")


def test_probe_command_is_the_c_tool():
    tool = os.path.join(PKG, "xpoll-probe")
    assert os.access(tool, os.X_OK)
    direct = subprocess.run([tool, "--version"], capture_output=True, text=True, timeout=60, cwd="/")
    assert direct.returncode == 0, direct.stderr  # runs from the package with nothing on the library path
    p = probe_command("--version")
    assert p.returncode == 0 and p.stdout == direct.stdout
    assert xpoll.version() in p.stdout


def test_probe_command_json_matches_the_tool_and_the_api():
    args = ("--json", "--max-fds", "300", "--ready", "4")
    p = probe_command(*args)
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)
    direct = json.loads(subprocess.run([os.path.join(PKG, "xpoll-probe"), *args], capture_output=True, text=True,
                                       timeout=120, cwd="/").stdout)
    assert report.keys() == direct.keys()
    assert report["verdict"] == direct["verdict"]
    names = [b["name"] for b in report["backends"]]
    assert names == xpoll.backends()
    assert all(b["check"]["passed"] for b in report["backends"])
    api = xpoll.probe(max_descriptors=300, ready=4)
    assert [b["name"] for b in api["backends"]] == names


def test_probe_command_table_and_usage_errors():
    p = probe_command("--no-measure")
    assert p.returncode == 0, p.stderr
    assert "open files, soft limit" in p.stdout and "FD_SETSIZE" in p.stdout
    bad = probe_command("--backend", "nosuch")
    assert bad.returncode == 2 and "nosuch" in bad.stderr


async def _echo_once():
    async def echo(reader, writer):
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"ping\n")
    line = await reader.readline()
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()
    loop = asyncio.get_running_loop()
    return line, loop, loop._selector.backend


def test_new_event_loop_runs_on_the_backend(backend):
    loop = xpoll.asyncio.new_event_loop(backend)
    try:
        assert isinstance(loop, asyncio.SelectorEventLoop)
        assert isinstance(loop._selector, XpollSelector) and loop._selector.backend == backend
        line, running, used = loop.run_until_complete(asyncio.wait_for(_echo_once(), 30))
        assert line == b"ping\n" and running is loop and used == backend
    finally:
        loop.close()


def test_run_uses_an_xpoll_loop_and_leaves_the_policy(backend):
    before = asyncio.get_event_loop_policy()
    line, loop, used = xpoll.asyncio.run(asyncio.wait_for(_echo_once(), 30), backend=backend)
    assert line == b"ping\n"
    assert used == backend and loop.is_closed()
    assert asyncio.get_event_loop_policy() is before


def test_run_without_asyncio_runner(monkeypatch, backend):
    # Python 3.8 to 3.10 have no asyncio.Runner: run() sets the policy for the time of the call.
    monkeypatch.delattr(asyncio, "Runner", raising=False)
    before = asyncio.get_event_loop_policy()
    line, loop, used = xpoll.asyncio.run(_echo_once(), backend=backend)
    assert line == b"ping\n" and used == backend and loop.is_closed()
    assert asyncio.get_event_loop_policy() is before


def test_install_makes_asyncio_use_xpoll(backend):
    before = asyncio.get_event_loop_policy()
    try:
        policy = xpoll.asyncio.install(backend)
        assert asyncio.get_event_loop_policy() is policy and policy.backend == backend
        assert repr(policy) == f"<xpoll.asyncio.EventLoopPolicy backend={backend!r}>"
        line, loop, used = asyncio.run(_echo_once())
        assert line == b"ping\n" and used == backend
        loop = asyncio.new_event_loop()
        assert loop._selector.backend == backend
        loop.close()
    finally:
        asyncio.set_event_loop_policy(before)


def test_unknown_backend_fails_at_once():
    with pytest.raises(ValueError):
        xpoll.asyncio.new_event_loop("nosuch")
    with pytest.raises(ValueError):
        xpoll.asyncio.EventLoopPolicy("nosuch")
    main = asyncio.sleep(0)
    with pytest.raises(ValueError):
        xpoll.asyncio.run(main, backend="nosuch")
    main.close()


def test_default_backend_is_the_best():
    loop = xpoll.asyncio.new_event_loop()
    try:
        assert loop._selector.backend == os.environ.get("XPOLL_BACKEND", xpoll.backends()[0])
    finally:
        loop.close()


def test_signal_handlers_on_the_loop(backend):
    import signal

    async def main():
        loop = asyncio.get_running_loop()
        got = loop.create_future()
        loop.add_signal_handler(signal.SIGUSR1, got.set_result, "usr1")
        loop.call_later(0.05, os.kill, os.getpid(), signal.SIGUSR1)
        try:
            return await asyncio.wait_for(got, 10)
        finally:
            loop.remove_signal_handler(signal.SIGUSR1)

    assert xpoll.asyncio.run(main(), backend=backend) == "usr1"


def test_unix_socket_pair_through_the_loop(backend):
    async def main():
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        a.setblocking(False)
        b.setblocking(False)
        async def receive():
            got = b""
            while len(got) < 1000000:
                got += await loop.sock_recv(b, 65536)
            return len(got)

        try:
            sent, received = await asyncio.wait_for(asyncio.gather(loop.sock_sendall(a, b"x" * 1000000), receive()),
                                                    30)
            return received
        finally:
            a.close()
            b.close()

    assert xpoll.asyncio.run(main(), backend=backend) == 1000000
