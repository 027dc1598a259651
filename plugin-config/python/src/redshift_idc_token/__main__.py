"""``python -m redshift_idc_token ARGS``: runs the executable this package installed.

Why it exists: it reaches the right executable where PATH does not (a venv that is not
activated), exactly as ``python -m ruff`` does.
"""

from __future__ import annotations

import os
import subprocess
import sys

from ._errors import TokenError
from ._executable import find_executable


def main() -> int:
    try:
        exe = find_executable()
    except TokenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 127
    if sys.platform == "win32":
        return subprocess.run([exe, *sys.argv[1:]]).returncode
    os.execv(exe, [exe, *sys.argv[1:]])
    return 127  # not reached: execv replaces this process or raises


if __name__ == "__main__":
    sys.exit(main())
