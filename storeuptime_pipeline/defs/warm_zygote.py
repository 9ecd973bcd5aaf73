"""The warm workers' parent: one process per job origin that loaded the code once and forks spares.

Why: a spare that is a fresh interpreter imports Dagster, pandas and the definitions (~2.3 s of
CPU) while the run it replaces is still computing; on 2 cores that import took ~0.8 s off every
back-to-back on-demand report (measured: step 3.54 s with the import beside it, 2.81 s without).
A fork of a process that has already imported everything costs milliseconds, so the next spare is
ready before the next trigger and takes no CPU from the report that is running.

Fork safety: the zygote never opens a database connection, the instance or a thread before it
forks (it only imports and loads the job), so a child inherits no socket or lock another process
shares; each child opens its own instance and connections (``warm_runs._serve``). Objects alive at
the fork are frozen out of the garbage collector (``gc.freeze``), so children do not write every
inherited page while collecting.

Protocol, on a Unix socket pair (the launcher keeps one end, the zygote gets the other as FD):

* launcher -> zygote: one JSON line, the setup (job origin, instance ref); the zygote answers
  ``ready`` once loaded, or ``failed: <reason>`` and exits.
* ``spawn`` with two file descriptors attached (SCM_RIGHTS): the child's stdin (read end) and its
  reply pipe (write end). The zygote answers ``spawned <pid>``, or ``stale <path>`` and exits when a
  source file changed since it loaded (a new zygote must load the new code).
* ``status <pid>``: ``exited <code>`` for a child that ended, else ``running``.
* end of file: the zygote exits; children keep running their run (or, idle, see their own stdin
  end and exit).
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from contextlib import suppress
from typing import IO, Any

#: How long the launcher waits for a zygote's answer to ``spawn`` / ``status`` (a fork: milliseconds).
ANSWER_TIMEOUT_S = 10.0
#: Exit codes the zygote remembers (children it reaped), oldest dropped first.
_EXITS_KEPT = 1024


def read_line(fd: int, buffer: bytearray, deadline: float) -> str:
    """The next line from ``fd`` (a pipe or a socket), ``buffer`` holding what came after it.

    Raises ``TimeoutError`` when nothing came by ``deadline`` (monotonic), ``EOFError`` at end of
    file. Past the deadline ``fd`` is still looked at once: a launcher thread that was not scheduled
    for a while (a loaded machine) must not take an answer that is already there for silence, kill a
    worker that is running the run, and start the run twice.
    """
    while b"\n" not in buffer:
        remaining = max(0.0, deadline - time.monotonic())
        readable, _, _ = select.select([fd], [], [], remaining)
        if not readable:
            raise TimeoutError
        chunk = os.read(fd, 4096)
        if not chunk:
            raise EOFError
        buffer += chunk
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    return line.decode()


class ZygoteGone(Exception):
    """The zygote cannot fork spares any more (exited, stale code, no answer); start a new one."""


class ForkedProcess:
    """A spare forked by a zygote, as the launcher sees it (the subset of ``Popen`` it uses).

    Not the launcher's child, so its status comes from ``/proc`` (psutil) and its exit code from
    the zygote, which reaps it.
    """

    def __init__(self, pid: int, zygote: Zygote, stdin: IO[bytes]) -> None:
        import psutil

        self.pid = pid
        self.stdin: IO[bytes] | None = stdin
        self.returncode: int | None = None
        self._zygote = zygote
        try:
            self._created: float | None = psutil.Process(pid).create_time()
        except psutil.Error:
            self._created = None

    def poll(self) -> int | None:
        """None while alive, else its exit code (-1 when nobody knows it any more)."""
        import psutil

        if self.returncode is not None:
            return self.returncode
        try:
            process = psutil.Process(self.pid)
            if process.status() != psutil.STATUS_ZOMBIE and process.create_time() == self._created:
                return None
        except psutil.NoSuchProcess:
            pass
        except psutil.Error:
            return None
        code = self._zygote.exit_code(self.pid)
        self.returncode = -1 if code is None else code
        return self.returncode

    def kill(self) -> None:
        if self.poll() is None:
            with suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"warm run worker {self.pid}", timeout or 0.0)
            time.sleep(0.1)
        return code


class Zygote:
    """The launcher's handle on one zygote process (``python -m ...warm_runs --zygote FD``)."""

    def __init__(self, setup: Mapping[str, str], cwd: str | None) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "storeuptime_pipeline.defs.warm_runs",
                    "--zygote",
                    str(theirs.fileno()),
                ],
                stdin=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                cwd=cwd,
                close_fds=True,
            )
        except OSError:
            ours.close()
            raise
        finally:
            theirs.close()
        self._socket = ours
        self._buffer = bytearray()
        self._lock = threading.Lock()
        self.ready = False
        self.gone: str | None = None
        ours.sendall((json.dumps(dict(setup)) + "\n").encode())

    def _line(self, timeout: float) -> str:
        try:
            return read_line(self._socket.fileno(), self._buffer, time.monotonic() + timeout)
        except TimeoutError:
            raise ZygoteGone("no answer in time") from None
        except EOFError:
            raise ZygoteGone(f"exited with {self.process.poll()}") from None

    def wait_ready(self, timeout: float) -> None:
        """Block until the zygote has loaded the code (raises :class:`ZygoteGone` if it cannot)."""
        with self._lock:
            if self.ready:
                return
            self._check_alive()
            try:
                line = self._line(timeout)
            except ZygoteGone as exc:
                self._retire(str(exc))
                raise
            if line != "ready":
                self._retire(line)
                raise ZygoteGone(line)
            self.ready = True

    def spawn(self) -> tuple[ForkedProcess, int]:
        """Fork one spare; its process and the read end of its reply pipe (``warm_runs.Spare``)."""
        with self._lock:
            self._check_alive()
            stdin_read, stdin_write = os.pipe()
            reply_read, reply_write = os.pipe()
            try:
                try:
                    socket.send_fds(self._socket, [b"spawn\n"], [stdin_read, reply_write])
                except OSError as exc:
                    raise ZygoteGone(f"unreachable ({exc})") from None
                finally:
                    os.close(stdin_read)
                    os.close(reply_write)
                line = self._line(ANSWER_TIMEOUT_S)
            except BaseException as exc:
                os.close(stdin_write)
                os.close(reply_read)
                if isinstance(exc, ZygoteGone):
                    self._retire(str(exc))
                raise
            word, _, rest = line.partition(" ")
            if word != "spawned" or not rest.isdigit():
                os.close(stdin_write)
                os.close(reply_read)
                self._retire(line)
                raise ZygoteGone(line)
            return ForkedProcess(int(rest), self, os.fdopen(stdin_write, "wb")), reply_read

    def exit_code(self, pid: int) -> int | None:
        """A child's exit code once the zygote reaped it; None when the zygote cannot say."""
        with self._lock:
            if self.gone is not None:
                return None
            try:
                self._socket.sendall(f"status {pid}\n".encode())
                word, _, rest = self._line(ANSWER_TIMEOUT_S).partition(" ")
            except (OSError, ZygoteGone) as exc:
                self._retire(str(exc))
                return None
        with suppress(ValueError):
            return int(rest) if word == "exited" else None
        return None

    def alive(self) -> bool:
        return self.gone is None and self.process.poll() is None

    def _check_alive(self) -> None:
        if self.gone is not None:
            raise ZygoteGone(self.gone)
        if self.process.poll() is not None:
            self._retire(f"exited with {self.process.returncode}")
            raise ZygoteGone(self.gone or "exited")

    def _retire(self, why: str) -> None:
        self.gone = self.gone or why
        self.close()

    def close(self) -> None:
        """End the zygote (end of file on its socket); its children are left to their runs."""
        self.gone = self.gone or "closed"
        with suppress(OSError):
            self._socket.close()
        threading.Thread(target=self.process.wait, name=f"reap-{self.process.pid}", daemon=True).start()


# --------------------------------------------------------------------------------------------------
# The zygote's side
# --------------------------------------------------------------------------------------------------


def serve_forks(
    fd: int,
    load: Callable[[dict[str, Any]], Any],
    changed: Callable[[Any], str | None],
    child: Callable[[Any, IO[str], IO[str]], int],
) -> int:
    """The zygote's loop: ``load`` the setup once, then fork ``child(loaded, stdin, replies)`` per spawn.

    ``changed(loaded)`` names a source file edited since the load (then the zygote says ``stale``
    and exits). A child never returns into this loop: it leaves with ``os._exit``.
    """
    sock = socket.socket(fileno=fd)
    messages = _Messages(sock)
    first = messages.next(block=True)
    if first is None:
        return 0
    try:
        loaded = load(json.loads(first[0]))
    except Exception as exc:  # a definitions import error: the launcher falls back, and says why
        sock.sendall(f"failed: {type(exc).__name__}: {exc}".replace("\n", " ").encode() + b"\n")
        return 1
    if threading.active_count() > 1:  # a lock held by another thread at a fork stays held in the child
        names = ", ".join(t.name for t in threading.enumerate() if t is not threading.current_thread())
        print(
            f"warm run worker zygote: threads alive after loading ({names}); forks may hang", file=sys.stderr
        )
    gc.collect()
    gc.freeze()
    sock.sendall(b"ready\n")
    exits: dict[int, int] = {}
    while True:
        _reap(exits)
        message = messages.next(block=False)
        if message is None:
            if messages.closed:
                return 0
            continue
        command, fds = message
        if command == "spawn" and len(fds) == 2:
            edited = changed(loaded)
            if edited:
                sock.sendall(f"stale {edited}\n".encode())
                return 0
            pid = os.fork()
            if pid == 0:
                _child(sock, fds, loaded, child)
            answer = f"spawned {pid}"
        elif command.startswith("status ") and command[7:].isdigit():
            _reap(exits)
            code = exits.get(int(command[7:]))
            answer = "running" if code is None else f"exited {code}"
        else:
            answer = f"refused: {command!r} (with {len(fds)} descriptors)"
        for descriptor in fds:
            os.close(descriptor)
        sock.sendall(answer.encode() + b"\n")


class _Messages:
    """Lines from the launcher with the descriptors sent along (``recv_fds`` throughout: a buffered
    reader would take descriptors with its reads and drop them)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = bytearray()
        self._fds: list[int] = []
        self.closed = False

    def next(self, block: bool) -> tuple[str, list[int]] | None:
        """The next line and the descriptors received with it; None at end of file or, when not
        blocking, when nothing came within a second (the caller reaps children meanwhile)."""
        while b"\n" not in self._buffer:
            if self.closed:
                return None
            if not block:
                readable, _, _ = select.select([self._sock], [], [], 1.0)
                if not readable:
                    return None
            data, fds, _, _ = socket.recv_fds(self._sock, 4096, 4)
            self._fds.extend(fds)
            if not data:
                self.closed = True
                for descriptor in self._fds:
                    os.close(descriptor)
                self._fds = []
                return None
            self._buffer += data
        line, _, rest = bytes(self._buffer).partition(b"\n")
        self._buffer = bytearray(rest)
        fds, self._fds = self._fds, []
        return line.decode().strip(), fds


def _child(
    sock: socket.socket, fds: list[int], loaded: Any, child: Callable[[Any, IO[str], IO[str]], int]
) -> None:
    """In the forked child: drop the zygote's socket, run ``child``, and exit without returning."""
    code = 1
    try:
        sock.close()
        gc.unfreeze()
        stdin = os.fdopen(fds[0], "r")
        replies = os.fdopen(fds[1], "w", buffering=1)
        code = child(loaded, stdin, replies)
    except KeyboardInterrupt:  # SIGINT while idle
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        with suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _reap(exits: dict[int, int]) -> None:
    """Collect every child that ended (no zombies), remembering its exit code for ``status``."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        exits[pid] = os.waitstatus_to_exitcode(status)
        while len(exits) > _EXITS_KEPT:
            exits.pop(next(iter(exits)))
