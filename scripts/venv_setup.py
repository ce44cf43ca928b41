"""Create and install the project's virtualenv once, safely when several ``make`` runs start together.

``make serve &`` and ``make test`` on a fresh clone both need ``.venv``. Each runs this script; an exclusive
lock (``<venv>.lock``, beside the venv) serialises them, and the stamp file, written atomically once
everything is installed, records a hash of what it was installed from (pyproject.toml and the constraints
file). A run that gets the lock after another finished sees a matching stamp and returns at once.

Usage: venv_setup.py VENV STAMP SPEC [pip install options...]; only the standard library (any python3).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def digest(extra: list[str]) -> str:
    h = hashlib.sha256()
    for arg in extra:
        h.update(arg.encode() + b"\0")
    for name in ("pyproject.toml", "constraints.txt"):
        path = ROOT / name
        h.update(path.read_bytes() if path.exists() else b"")
    return h.hexdigest()


def write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    venv, stamp, spec, pip_args = Path(argv[0]), Path(argv[1]), argv[2], argv[3:]
    want = digest([spec, *pip_args])
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{venv}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if this process dies
        if stamp.exists() and stamp.read_text().strip() == want:
            os.utime(stamp)  # newer than its prerequisites again, so make stops asking
            return 0
        if stamp.exists():
            stamp.unlink()
        python = venv / "bin" / "python"
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(python), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, "--upgrade", "pip"], check=True)
        subprocess.run([*pip, *pip_args, spec], check=True, cwd=ROOT)
        write_atomically(stamp, want + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
