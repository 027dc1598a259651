#!/usr/bin/env python3
"""Checks the release bundle against what its own documents tell a reader to do.

Why it exists: a document in the tarball (README.md, docs/, plugin-config/**/README.md) or the
wheel's description that names a file the bundle does not ship, a wheel tag it does not have,
or an install command that does not work is a broken install for every new user. This script
reads every shipped document, whatever it says, and

* checks every relative link and every ``plugin-config/...`` or ``docs/...`` path against the
  extracted tarball (a script named as a command must be executable there);
* matches every wheel or jar file name it mentions (``*`` and ``VERSION`` as wildcards) against
  the bundle's own files, and every ``manylinux_X_Y`` tag against the shipped wheel's;
* runs every install command it gives (``pip install`` of the wheel, ``tar -x`` of the tarball,
  ``sha256sum -c``, ``install`` of the executable) in a copy of the bundle, in a throw-away HOME
  and virtualenvs, with pip offline (``--no-index --no-deps``: packages from a registry are
  left out, the wheel file and its extras are what is checked), and then runs the executable
  each one installed.

Usage: release_docs.py BUNDLE_DIR     (exit 0: all good; 1: every problem listed on stderr)
Run by tests/it/release.rs with the bundle scripts/release built (RIT_BUNDLE).
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

INSTALL_WORDS = ("pip ", "pip3 ", "python -m pip ", "python3 -m pip ", "tar ", "sha256sum ",
                 "install ")
CODE_BLOCK = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
CODE_SPAN = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
WHEEL_NAME = re.compile(r"redshift_idc_token-[A-Za-z0-9_.*-]+?\.whl")
JAR_NAME = re.compile(r"redshift-idc-jdbc-[A-Za-z0-9_.*-]+?\.jar")
TARBALL_NAME = re.compile(r"redshift-idc-token-[A-Za-z0-9_.*-]+?\.tar\.gz")
MANYLINUX = re.compile(r"manylinux_\d+_\d+")
SHIPPED_PATH = re.compile(r"(?<![\w/.-])((?:plugin-config|docs)/[\w./-]*[\w/])")
TIMEOUT = 300


class Checker:
    def __init__(self, bundle: Path, work: Path) -> None:
        self.bundle = bundle
        self.work = work
        self.problems: list[str] = []
        self.ran: list[str] = []
        self.checked: dict[str, list[str]] = {}
        names = sorted(p.name for p in bundle.iterdir())
        self.files = names
        (self.tarball,) = [n for n in names if n.endswith(".tar.gz")]
        (self.wheel,) = [n for n in names if n.endswith(".whl")]
        (self.jar,) = [n for n in names if n.endswith(".jar")]
        self.wheel_tag = MANYLINUX.search(self.wheel)
        self.tree = work / "tree"
        self.tree.mkdir()
        with tarfile.open(bundle / self.tarball) as t:
            t.extractall(self.tree, filter="data")
        (self.top,) = list(self.tree.iterdir())

    def problem(self, where: str, what: str) -> None:
        self.problems.append(f"{where}: {what}")

    # -- the documents ---------------------------------------------------------------------------

    def documents(self) -> list[tuple[str, Path | None, str]]:
        """(name, folder it sits in within the tarball or None, text) of every shipped document."""
        docs: list[tuple[str, Path | None, str]] = []
        for md in sorted(self.top.rglob("*.md")):
            if md.name == "CHANGELOG.md":  # history, not instructions
                continue
            docs.append((str(md.relative_to(self.top)), md.parent, md.read_text()))
        with zipfile.ZipFile(self.bundle / self.wheel) as z:
            (meta,) = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
            text = z.read(meta).decode()
        docs.append((f"{self.wheel}:METADATA", None, text.split("\n\n", 1)[-1]))
        return docs

    def check_document(self, name: str, folder: Path | None, text: str) -> None:
        for n, line in enumerate(text.splitlines(), 1):
            where = f"{name}:{n}"
            if folder is not None:
                for target in LINK.findall(line):
                    self.check_link(where, folder, target)
            for pattern, shipped in ((WHEEL_NAME, self.wheel), (JAR_NAME, self.jar),
                                     (TARBALL_NAME, self.tarball)):
                for mention in pattern.findall(line):
                    if not fnmatch.fnmatch(shipped, mention.replace("VERSION", "*")):
                        self.problem(where, f"names {mention}, but the bundle ships {shipped}")
            for tag in MANYLINUX.findall(line):
                if self.wheel_tag is None or tag != self.wheel_tag.group(0):
                    self.problem(where, f"names the wheel tag {tag}, but the bundle ships {self.wheel}")
        for code in self.code(text):
            for path in SHIPPED_PATH.findall(code):
                if "*" not in path and not (self.top / path).exists():
                    self.problem(name, f"names {path}, which the tarball does not hold")
        for command in self.commands(text):
            self.check_command(name, command)

    def check_link(self, where: str, folder: Path, target: str) -> None:
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            return
        path = (folder / target.split("#", 1)[0]).resolve()
        if not path.exists():
            self.problem(where, f"links {target}, which the tarball does not hold")
        elif self.top.resolve() not in (path, *path.parents):
            self.problem(where, f"links {target}, outside the tarball")

    @staticmethod
    def code(text: str) -> list[str]:
        """Every code block line (continuations joined) and every code span."""
        out: list[str] = []
        for block in CODE_BLOCK.findall(text):
            out.extend(l for l in block.replace("\\\n", " ").splitlines() if l.strip())
        out.extend(CODE_SPAN.findall(CODE_BLOCK.sub("", text)))
        return [re.sub(r"^\s*\$\s+", "", c).strip() for c in out]

    def commands(self, text: str) -> list[str]:
        """The install commands of a document: its code that starts with an installer and
        names a file of the bundle or of the tarball."""
        found: list[str] = []
        for code in self.code(text):
            command = code.split(" #", 1)[0].strip()
            if not command.startswith(INSTALL_WORDS):
                continue
            if re.search(r"\.whl|\.tar\.gz|SHA256SUMS|redshift-idc-token-\*?/", command):
                found.append(command)
        for code in self.code(text):  # a script of the tarball run with arguments
            words = code.split()
            if len(words) > 1 and SHIPPED_PATH.fullmatch(words[0]) and not words[0].endswith("/"):
                found.append(words[0])
        return found

    # -- running the commands --------------------------------------------------------------------

    def staging(self) -> Path:
        """A fresh copy of the bundle, as a reader has it after downloading."""
        d = Path(tempfile.mkdtemp(dir=self.work, prefix="bundle-"))
        for n in self.files:
            shutil.copy2(self.bundle / n, d / n)
        return d

    def check_command(self, doc: str, command: str) -> None:
        where = f"{doc}: `{command}`"
        if command in self.checked:  # the same command in another document: one run is enough
            self.problems.extend(f"{where}: {p}" for p in self.checked[command])
            return
        before = len(self.problems)
        self.run_command(where, command)
        self.checked[command] = [p.split(": ", 2)[-1] for p in self.problems[before:]]

    def run_command(self, where: str, command: str) -> None:
        if SHIPPED_PATH.fullmatch(command):
            path = self.top / command
            if not path.is_file() or not os.access(path, os.X_OK):
                self.problem(where, "is run as a command but is not an executable file of the tarball")
            return
        self.ran.append(where)
        cwd = self.staging()
        home = cwd / "home"
        home.mkdir()
        env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
               "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
        words = shlex.split(command)
        if words[0] in ("pip", "pip3", "python", "python3"):
            self.run_pip(where, words, cwd, env)
            return
        if words[0] == "install":  # the executable from the extracted tarball
            self.sh(where, f"tar -xzf {shlex.quote(self.tarball)}", cwd, env)
            for w in words[1:]:
                if w.endswith("/"):
                    Path(os.path.expanduser(w.replace("~", str(home)))).mkdir(parents=True, exist_ok=True)
        if not self.sh(where, command, cwd, env):
            return
        if words[0] == "install":
            dest = words[-1].replace("~", str(home))
            exe = Path(dest) / "redshift-idc-token" if dest.endswith("/") else Path(dest)
            self.executable_works(where, exe, env)
        if words[0] == "tar":
            tops = [p for p in cwd.iterdir() if p.is_dir() and p.name.startswith("redshift-idc-token-")]
            if len(tops) != 1:
                self.problem(where, "did not produce the one redshift-idc-token-* folder")
            else:
                self.executable_works(where, tops[0] / "redshift-idc-token", env)

    def sh(self, where: str, command: str, cwd: Path, env: dict[str, str]) -> bool:
        proc = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True,
                              text=True, timeout=TIMEOUT, check=False)
        if proc.returncode != 0:
            self.problem(where, f"failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
            return False
        return True

    def run_pip(self, where: str, words: list[str], cwd: Path, env: dict[str, str]) -> None:
        i = words.index("install")
        args = words[i + 1:]
        venv = cwd / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=TIMEOUT)
        kept: list[str] = []
        target: Path | None = None
        skip_next = False
        for n, a in enumerate(args):
            if skip_next:
                skip_next = False
                continue
            if a in ("--target", "-t"):
                target = cwd / "target-dir"
                kept += [a, str(target)]
                skip_next = True
                continue
            if a.startswith("-"):
                kept.append(a)
                continue
            expanded = self.expand(a, cwd, env)
            files = [e for e in expanded if (cwd / e.split("[", 1)[0]).is_file()]
            if not files:
                continue  # a package from a registry: not part of the bundle, not checked here
            kept += files
        if not any(".whl" in k for k in kept):
            self.problem(where, "installs no file of the bundle")
            return
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--no-index", "--no-deps", *kept]
        proc = subprocess.run(pip, cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=TIMEOUT, check=False)
        if proc.returncode != 0:
            self.problem(where, f"pip failed: {proc.stderr.strip()[-500:]}")
            return
        if "does not provide the extra" in proc.stdout + proc.stderr:
            self.problem(where, f"names an extra the wheel does not have: {proc.stderr.strip()}")
        exe = (target / "bin" if target else venv / "bin") / "redshift-idc-token"
        self.executable_works(where, exe, env)
        if target is None:
            code = "import redshift_idc_token as r; print(r.find_executable())"
            proc = subprocess.run([str(venv / "bin" / "python"), "-c", code], cwd=cwd, env=env,
                                  capture_output=True, text=True, timeout=TIMEOUT, check=False)
            if proc.stdout.strip() != str(exe):
                self.problem(where, f"the module finds {proc.stdout.strip() or proc.stderr.strip()}, not {exe}")

    @staticmethod
    def expand(word: str, cwd: Path, env: dict[str, str]) -> list[str]:
        """A shell word as the documented shell would expand it (globs, $(ls ...))."""
        proc = subprocess.run(["bash", "-c", f"printf '%s\\n' {word}"], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=60, check=False)
        return proc.stdout.splitlines()

    def executable_works(self, where: str, exe: Path, env: dict[str, str]) -> None:
        if not exe.is_file():
            self.problem(where, f"left no executable at {exe}")
            return
        proc = subprocess.run([str(exe), "--version"], env=env, capture_output=True, text=True,
                              timeout=60, check=False)
        if proc.returncode != 0 or not proc.stdout.startswith("redshift-idc-token "):
            self.problem(where, f"{exe} --version failed: {proc.stderr.strip()}")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    bundle = Path(argv[1]).resolve()
    with tempfile.TemporaryDirectory(prefix="release-docs-") as tmp:
        checker = Checker(bundle, Path(tmp))
        docs = checker.documents()
        for name, folder, text in docs:
            checker.check_document(name, folder, text)
    print(f"release_docs: {len(docs)} documents, {len(checker.ran)} install commands run:",
          file=sys.stderr)
    for r in checker.ran:
        print(f"  ran {r}", file=sys.stderr)
    for p in checker.problems:
        print(f"  PROBLEM {p}", file=sys.stderr)
    return 1 if checker.problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
