"""`unmo` processes for the tests that run several at once or kill them mid-way, without each
paying the interpreter's start and unmo's imports (about 0.6 s of CPU a process, most of what
those tests cost).

`UnmoProcess([sys.executable, "-m", "unmo_cli", *args], env=…, stdout=…, stderr=…)` is a
subprocess.Popen in every way the tests use (pipes, communicate, poll, wait, send_signal, kill,
returncode): only its process is made differently. One launcher per test process imports
unmo's commands, services and models, and the survey page's stack (for `survey serve`:
support_survey.survey_server), once; for each UnmoProcess it forks, and the fork forks
the process itself and exits, so that it is reparented to the test process (made a child
subreaper, Linux's PR_SET_CHILD_SUBREAPER) and reaped by Popen as its own child. That process
runs the real entry point (unmo_cli.cli.main) alone, with the given environment (whole),
working folder and umask (Popen's, or this process's), on the stdin, stdout and stderr Popen
made for it (passed over a Unix socket). It differs from `python -m unmo_cli` only in having
those modules imported already, so it is not for tests about start-up, imports or a process's
memory; nor for preexec_fn (the Ctrl-C tests), which falls back to a real start."""

from __future__ import annotations

import atexit
import ctypes
import json
import os
import socket
import subprocess
import sys
import threading
from typing import Any

_LAUNCHER = """
import importlib, json, os, pkgutil, socket, sys
import unmo_cli.commands, unmo_cli.services, unmo_cli.db.models
import unmo_cli.survey_server, uvicorn.config  # `survey serve`'s page stack (support_survey)
for package in (unmo_cli.commands, unmo_cli.services):
    for module in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        importlib.import_module(module.name)
from unmo_cli.cli import main
channel = socket.socket(fileno=int(sys.argv[1]))
while True:
    message, fds, _flags, _address = socket.recv_fds(channel, 1 << 22, 3)
    if not message:
        break
    args, env, cwd, umask = json.loads(message)
    read, write = os.pipe()
    middle = os.fork()
    if middle == 0:
        pid = os.fork()
        if pid == 0:
            channel.close()
            os.close(read)
            os.close(write)
            for target, fd in enumerate(fds):
                os.dup2(fd, target)
            for fd in fds:
                if fd > 2:
                    os.close(fd)
            os.chdir(cwd)
            os.umask(umask)
            os.environ.clear()
            os.environ.update(env)
            sys.argv = ["unmo", *args]
            main()
            sys.exit(0)
        os.write(write, str(pid).encode())
        os._exit(0)
    os.close(write)
    for fd in fds:
        os.close(fd)
    with os.fdopen(read, "rb") as answer:
        pid = int(answer.read())
    os.waitpid(middle, 0)  # the process is the test process's child from here on
    channel.sendall(str(pid).encode())
"""

_PR_SET_CHILD_SUBREAPER = 36
_lock = threading.Lock()
_channel: socket.socket | None = None
_launcher: subprocess.Popen | None = None


def _launch() -> socket.socket:
    global _channel, _launcher
    if _launcher is None or _launcher.poll() is not None:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        _launcher = subprocess.Popen([sys.executable, "-c", _LAUNCHER, str(theirs.fileno())],
                                     pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL)
        theirs.close()
        _channel = ours
        atexit.register(_stop, _launcher, ours)
    assert _channel is not None
    return _channel


def _stop(launcher: subprocess.Popen, channel: socket.socket) -> None:
    """At exit: the launcher ends at the end of its channel; reaped, so that its CPU is counted
    with the test run's."""
    channel.close()
    launcher.wait(timeout=60)


def _start(args: list[str], env: dict[str, str], cwd: str, fds: list[int], *,
           umask: int | None) -> int:
    if umask is None:  # this process's, as a started process would inherit it
        umask = os.umask(0o022)
        os.umask(umask)
    message = json.dumps([args, env, cwd, umask]).encode()
    with _lock:
        channel = _launch()
        socket.send_fds(channel, [message], fds)
        answer = channel.recv(64)
    assert answer, "the unmo launcher died"
    return int(answer)


class UnmoProcess(subprocess.Popen):
    """subprocess.Popen of `[sys.executable, "-m", "unmo_cli", *args]`, started by the launcher
    (see the module's docstring)."""

    def _execute_child(self, args, executable, preexec_fn, close_fds, pass_fds, cwd, env,
                       startupinfo, creationflags, shell, p2cread, p2cwrite, c2pread, c2pwrite,
                       errread, errwrite, *rest: Any) -> None:
        prefix = [sys.executable, "-m", "unmo_cli"]
        if preexec_fn is not None or shell or list(args[:3]) != prefix:
            return super()._execute_child(
                args, executable, preexec_fn, close_fds, pass_fds, cwd, env, startupinfo,
                creationflags, shell, p2cread, p2cwrite, c2pread, c2pwrite, errread, errwrite,
                *rest)
        fds = [p2cread if p2cread != -1 else 0, c2pwrite if c2pwrite != -1 else 1,
               errwrite if errwrite != -1 else 2]
        environment = dict(os.environ if env is None else env)
        _restore_signals, _gid, _gids, _uid, umask, *_ = rest
        try:
            self.pid = _start([str(a) for a in args[3:]], environment,
                              os.fspath(cwd) if cwd is not None else os.getcwd(), fds,
                              umask=None if umask < 0 else umask)
            self._child_created = True
        finally:
            self._close_pipe_fds(p2cread, p2cwrite, c2pread, c2pwrite, errread, errwrite)
        return None
