"""Where the `redshift-idc-token` executable is.

Why it exists: the wheel installs the executable into the scripts directory of the install
scheme that also received this package, and that copy is the one built with this module.
Another `redshift-idc-token` on PATH may be older or a different program, and PATH may not hold
the right one at all (a BI tool, a notebook kernel, cron, a Lambda layer). So, as ruff's
``find_ruff_bin`` does, the executable is looked for next to the package, for every way pip
lays out an install: a venv or the system (the scheme's scripts directory), ``--user``,
``--prefix P`` (``P/bin``), ``--root``, and ``--target DIR`` (``DIR/bin``). It is never taken
from PATH: when the installed copy is missing, that is an error naming where it looked. The
one explicit choice is ``REDSHIFT_IDC_TOKEN_EXECUTABLE`` (or a path a program passes in code);
a connection's settings never choose it.
"""

from __future__ import annotations

import os
import sysconfig
from typing import Mapping, Optional

from ._errors import TokenError

__all__ = ["ENV_EXECUTABLE", "EXECUTABLE_NAME", "find_executable", "installed_locations"]

#: Environment variable naming the executable to run (a path), ahead of every other place.
ENV_EXECUTABLE = "REDSHIFT_IDC_TOKEN_EXECUTABLE"
EXECUTABLE_NAME = "redshift-idc-token" + (sysconfig.get_config_var("EXE") or "")

# This package's parent: the site-packages (or --target) directory it was installed into.
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A stand-in prefix for laying out a scheme's paths relative to its base.
_BASE = os.path.join(os.sep, "redshift-idc-token-base")


def _scripts_for(package_root: str) -> list[str]:
    """The scripts directories of every install scheme whose library directory is
    `package_root`, whatever prefix it was installed under (--prefix, --root, a venv)."""
    found: list[str] = []
    fake = {"base": _BASE, "platbase": _BASE, "userbase": _BASE, "installed_base": _BASE,
            "installed_platbase": _BASE}
    for scheme in sysconfig.get_scheme_names():
        try:
            scripts = sysconfig.get_path("scripts", scheme, vars=fake)
            libs = {sysconfig.get_path(k, scheme, vars=fake) for k in ("purelib", "platlib")}
        except KeyError:
            continue
        for lib in libs:
            relative = os.path.relpath(lib, _BASE)
            if relative.startswith(os.pardir):
                continue
            suffix = os.sep + relative
            if package_root.endswith(suffix):
                prefix = package_root[: -len(suffix)] or os.sep
                found.append(os.path.join(prefix, os.path.relpath(scripts, _BASE)))
    return found


def installed_locations(package_root: str = _PACKAGE_ROOT) -> list[str]:
    """The places an install of this package puts the executable, in the order they are tried."""
    dirs = [os.path.join(package_root, "bin")]  # pip install --target DIR
    dirs += _scripts_for(package_root)
    seen: list[str] = []
    for d in dirs:
        path = os.path.join(os.path.normpath(d), EXECUTABLE_NAME)
        if path not in seen:
            seen.append(path)
    return seen


def find_executable(explicit: Optional[str] = None,
                    environ: Optional[Mapping[str, str]] = None) -> str:
    """Returns the path of the executable to run.

    Order: ``explicit`` (a path passed in code), ``$REDSHIFT_IDC_TOKEN_EXECUTABLE``, then the
    copy installed with this package (`installed_locations`). An explicit path is returned as
    given (running it reports a bad one); otherwise raises `TokenError` naming every place it
    looked. PATH is never searched: a different program of that name is not this one.
    """
    env = os.environ if environ is None else environ
    for chosen in (explicit, env.get(ENV_EXECUTABLE)):
        if chosen:
            return chosen
    tried = installed_locations()
    for path in tried:
        if os.path.isfile(path):
            return path
    raise TokenError(
        f"{EXECUTABLE_NAME} not found next to the redshift_idc_token package: looked in "
        f"{', '.join(tried)}; reinstall the wheel (pip install redshift-idc-token), or set "
        f"{ENV_EXECUTABLE} to the executable's path")
