"""The process jupyter_client starts as "the kernel" when grading: it asks the fork server
(forkserver.py) for a fresh kernel, forwards signals to it, and exits with its status.

Run as a script with `python -I -S` (standard library only, so it starts in milliseconds):
    kernel_stub.py SOCKET -f CONNECTION_FILE [kernel arguments...]
"""

import json
import os
import signal
import socket
import sys


def main() -> int:
    sock_path, argv = sys.argv[1], sys.argv[2:]
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(sock_path)
    request = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}
    conn.sendall(json.dumps(request).encode() + b"\n")
    replies = conn.makefile("r")
    pid = int(replies.readline())
    if pid > 0:  # 0: the server could not start a kernel, and says so on the next line
        # jupyter_client interrupts and stops "the kernel" by signalling this process's group.
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(signum, lambda n, _frame: os.killpg(pid, n))  # the kernel leads its group
    while True:
        try:
            line = replies.readline()
            break
        except InterruptedError:
            continue
    # "exit N" when the kernel ended; nothing if the fork server went away.
    return int(line.split()[1]) if line.startswith("exit ") else 1


if __name__ == "__main__":
    sys.exit(main())
