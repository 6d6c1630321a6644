"""Fresh kernels in milliseconds: a fork server that has imported ipykernel (and this package)
once, and forks a new kernel process for each submission.

Starting a Python kernel costs most of its time importing ipykernel and IPython. The server
pays that once; each submission still gets a new process that never saw another submission
(the server itself runs no notebook code), with its own address-space and file-size limits
(setrlimit), its own working directory and environment, a re-seeded `random`, its own session,
and its own pid namespace. jupyter_client talks to a tiny stand-in process (kernel_stub.py)
that forwards signals to the forked kernel and exits with it; when the stand-in is killed, the
server kills the kernel. Kernels run the grader's own Python environment.
"""

from __future__ import annotations

import atexit
import json
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from queue import Empty

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager

STUB = Path(__file__).with_name("kernel_stub.py")
FILE_LIMIT_MIB = 64  # the largest file a submission may write (RLIMIT_FSIZE): it cannot fill the disk
PR_SET_PDEATHSIG = 1
CLONE_NEWPID, CLONE_NEWUSER = 0x20000000, 0x10000000  # <linux/sched.h>


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent goes (prctl PR_SET_PDEATHSIG)."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def serve(sock_path: str, memory_mib: int) -> None:
    """The server loop: one forked kernel per connection; single-threaded, so forking is safe."""
    # The point of the server: import once what every kernel's start-up imports (the kernel
    # app, the shell, the debugger ipykernel loads while initialising) and the exercises.
    import ipykernel.debugger  # noqa: F401
    import ipykernel.ipkernel  # noqa: F401
    import ipykernel.zmqshell  # noqa: F401
    from ipykernel.kernelapp import IPKernelApp  # noqa: F401

    import ukva_widgets.grading.chapters  # noqa: F401

    _die_with_parent()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path)
    listener.listen(16)
    kernels: dict[socket.socket, tuple[int, int]] = {}  # stand-in -> (keeper pid, kernel pid)
    while True:
        ready, _, _ = select.select([listener, *kernels], [], [], 0.05)
        for s in ready:
            if s is listener:
                conn, _ = listener.accept()
                request = json.loads(conn.makefile("r").readline())
                r, w = os.pipe()
                keeper = os.fork()
                if keeper == 0:
                    listener.close()
                    for other in kernels:
                        other.close()
                    conn.close()
                    os.close(r)
                    _keep_kernel(request, memory_mib, w)
                os.close(w)
                with os.fdopen(r) as pipe:
                    line = pipe.readline()
                if not line.strip().isdigit():  # the keeper failed before it could fork the kernel
                    conn.sendall(b"0\nexit 1\n")
                    conn.close()
                    continue
                kernels[conn] = (keeper, int(line))
                conn.sendall(line.encode())
            elif not s.recv(64):  # the stand-in is gone (killed): so goes its kernel
                _kill(kernels.pop(s)[1])
                s.close()
        while True:  # reap ended keepers (each ends with its kernel) and tell their stand-ins
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            for conn, (keeper, _) in list(kernels.items()):
                if keeper == pid:
                    code = os.waitstatus_to_exitcode(status)
                    try:
                        conn.sendall(f"exit {code & 0xff}\n".encode())
                    except OSError:
                        pass
                    conn.close()
                    del kernels[conn]


def _keep_kernel(request: dict, memory_mib: int, report: int) -> None:
    """In the forked keeper: start the kernel as process 1 of a new pid namespace, so it can
    neither see nor signal the grader, the server or other submissions' kernels (os.getppid()
    is 0 there, and kill(-1) reaches only its own namespace); report the kernel's pid as the
    server sees it, then wait for the kernel and exit with its status."""
    code = 1
    try:
        _die_with_parent()
        _new_pid_namespace()
        kernel = os.fork()
        if kernel == 0:
            os.close(report)
            _become_kernel(request, memory_mib)
        os.write(report, f"{kernel}\n".encode())
        os.close(report)
        _, status = os.waitpid(kernel, 0)
        code = os.waitstatus_to_exitcode(status) & 0xff
    finally:
        os._exit(code)


def _new_pid_namespace() -> None:
    """unshare(CLONE_NEWPID): the next child is process 1 of a new pid namespace. Without
    CAP_SYS_ADMIN, a new user namespace grants it; where neither is allowed (some containers)
    the kernel runs in the server's namespace, still under every other limit."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWPID) != 0 and libc.unshare(CLONE_NEWUSER | CLONE_NEWPID) != 0:
        return


def _kill(pid: int) -> None:
    if pid <= 0:  # 0 or -1 would mean this process group or every process: never
        return
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except (ProcessLookupError, PermissionError):
            pass


def _become_kernel(request: dict, memory_mib: int) -> None:
    """In the forked child: a fresh session, the submission's limits, then the kernel."""
    import random

    code = 1
    try:
        os.setsid()
        _die_with_parent()
        limit = memory_mib << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT_MIB << 20, FILE_LIMIT_MIB << 20))
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        random.seed()  # a forked child would otherwise repeat the server's random sequence
        sys.argv = ["ipykernel_launcher", *request["argv"]]
        from ipykernel.kernelapp import IPKernelApp

        IPKernelApp.launch_instance(argv=request["argv"])
        code = 0
    finally:
        os._exit(code)


class ForkServer:
    """One server per grading process, started on first use and stopped at exit."""

    def __init__(self, memory_mib: int) -> None:
        self.memory_mib = memory_mib
        self._dir = tempfile.TemporaryDirectory(prefix="ukva-forkserver-")
        self.socket_path = os.path.join(self._dir.name, "sock")
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ukva_widgets.grading.forkserver", self.socket_path, str(memory_mib)],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not os.path.exists(self.socket_path):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the grader's kernel fork server did not start "
                                   f"(exit status {self.process.poll()}); is ipykernel installed?")
            time.sleep(0.02)
        atexit.register(self.stop)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._dir.cleanup()


_servers: dict[int, ForkServer] = {}
_servers_lock = threading.Lock()  # grading threads may ask for the first server at once


def server_for(memory_mib: int) -> ForkServer:
    """The running fork server whose kernels get `memory_mib` MiB (started if needed)."""
    with _servers_lock:
        server = _servers.get(memory_mib)
        if server is None or server.process.poll() is not None:
            server = _servers[memory_mib] = ForkServer(memory_mib)
        return server


class PromptClient(AsyncKernelClient):
    """A kernel client that is ready as soon as the kernel answered kernel_info on both the shell
    and the IOPub channel. (jupyter_client's own wait_for_ready then listens to IOPub for 0.2 s
    of silence, which for a short-lived grading kernel is a third of its life.)"""

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout or 60)
        while True:
            msg_id = self.kernel_info()
            try:
                while True:  # the idle status of our request proves IOPub is connected
                    msg = await self.iopub_channel.get_msg(timeout=0.05)
                    if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status" \
                            and msg["content"]["execution_state"] == "idle":
                        break
                while True:
                    reply = await self.shell_channel.get_msg(timeout=5)
                    if reply["parent_header"].get("msg_id") == msg_id:
                        self._handle_kernel_info_reply(reply)
                        return
            except Empty:
                pass  # a slow joiner missed the status: ask again
            if not await self.is_alive():
                raise RuntimeError("the kernel died before it answered kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the kernel did not answer within {timeout} s")


def kernel_manager_class(memory_mib: int) -> type[AsyncKernelManager]:
    """A kernel manager for nbclient whose kernels come from the fork server."""
    server = server_for(memory_mib)

    class ForkServerKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs) -> None:
            super().__init__(**kwargs)
            self.client_factory = PromptClient

        def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
            cmd = super().format_kernel_cmd(extra_arguments)
            return [sys.executable, "-I", "-S", str(STUB), server.socket_path, *cmd[cmd.index("-f"):]]

    return ForkServerKernelManager


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
