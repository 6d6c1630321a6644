"""The grading kernel's entry point (inside the sandbox, or directly with --no-sandbox):
sets the per-process limits, then starts ipykernel.

    python -I kernel_stub.py '{"RLIMIT_AS": ..., ...}' -f CONNECTION_FILE

The limits are set here, inside the sandbox's own user namespace, because Linux counts
RLIMIT_NPROC per uid *in that namespace*: set outside, it would count every process of the
grader's uid. No debugger in a grading kernel: debugpy is not imported (a tenth of a second less
per kernel, and one listener less).
"""

import json
import resource
import sys


def main() -> None:
    del sys.path[0]  # this script's directory: the kernel imports ukva_widgets as a package
    limits, argv = json.loads(sys.argv[1]), sys.argv[2:]
    for name, value in limits.items():
        resource.setrlimit(getattr(resource, name), (value, value))
    sys.modules["debugpy"] = None  # type: ignore[assignment]
    sys.argv = ["ipykernel_launcher", *argv]
    from ipykernel.kernelapp import IPKernelApp

    IPKernelApp.launch_instance(argv=argv)


if __name__ == "__main__":
    main()
