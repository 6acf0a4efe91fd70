import os
import sys
from pathlib import Path

# What a process needs from the surrounding environment; every setting comes from the
# test, so a developer's own variables cannot change the result.
KEPT = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "XDG_RUNTIME_DIR")


def clean_env(**variables: str) -> dict[str, str]:
    """An environment with only KEPT and ``variables``, the virtualenv's bin first on
    PATH (as the image has python and gunicorn on PATH)."""
    env = {key: os.environ[key] for key in KEPT if key in os.environ}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(variables)
    return env
