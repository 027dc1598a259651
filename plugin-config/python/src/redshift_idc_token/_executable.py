"""Where the `redshift-idc-token` executable is.

Why it exists: the wheel installs the executable into the scripts directory of the environment
it is installed in, and that copy is the one built with this module. Another
`redshift-idc-token` on PATH may be older, and PATH may not contain the venv at all (a BI tool,
a notebook kernel, cron). So, as ruff's ``find_ruff_bin`` does, this interpreter's scripts
directory comes first, then the user scheme's (``pip install --user``), and PATH only last. An
explicit choice, a connect argument or ``REDSHIFT_IDC_TOKEN_EXECUTABLE``, beats all of them.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from typing import Mapping, Optional

from ._errors import TokenError

__all__ = ["ENV_EXECUTABLE", "EXECUTABLE_NAME", "find_executable"]

#: Environment variable naming the executable to run (a path), ahead of every other place.
ENV_EXECUTABLE = "REDSHIFT_IDC_TOKEN_EXECUTABLE"
EXECUTABLE_NAME = "redshift-idc-token" + (sysconfig.get_config_var("EXE") or "")


def _user_scheme() -> str:
    if sys.version_info >= (3, 10):
        return sysconfig.get_preferred_scheme("user")
    if os.name == "nt":
        return "nt_user"
    if sys.platform == "darwin" and getattr(sys, "_framework", None):
        return "osx_framework_user"
    return "posix_user"


def installed_locations() -> list[str]:
    """The places the wheel puts the executable, in the order they are tried."""
    return [
        os.path.join(sysconfig.get_path("scripts"), EXECUTABLE_NAME),
        os.path.join(sysconfig.get_path("scripts", scheme=_user_scheme()), EXECUTABLE_NAME),
    ]


def find_executable(explicit: Optional[str] = None,
                    environ: Optional[Mapping[str, str]] = None) -> str:
    """Returns the path of the executable to run.

    Order: ``explicit`` (e.g. a connect argument), ``$REDSHIFT_IDC_TOKEN_EXECUTABLE``, the
    scripts directory of this interpreter, the user scheme's scripts directory, PATH. An
    explicit path is returned as given (running it reports a bad one); otherwise raises
    `TokenError` naming every place it looked.
    """
    env = os.environ if environ is None else environ
    for chosen in (explicit, env.get(ENV_EXECUTABLE)):
        if chosen:
            return chosen
    tried = installed_locations()
    for path in tried:
        if os.path.isfile(path):
            return path
    on_path = shutil.which(EXECUTABLE_NAME, path=env.get("PATH"))
    if on_path:
        return on_path
    raise TokenError(
        f"{EXECUTABLE_NAME} not found: looked in {', '.join(tried)} and PATH; install it "
        f"(pip install redshift-idc-token) or set {ENV_EXECUTABLE} to its path")
