"""python -m xpoll.probe [options]: the xpoll-probe tool, as built with this package.

Same options, table, --json and exit status as the C tool (xpoll-probe --help), because it is the C tool: the
package carries the binary that CMake built beside libxpoll, and this module runs it in place of the Python
process. It runs the library the package loaded (its directory goes first on the tool's library path), so that
$XPOLL_LIBRARY decides for the probe as for the package. xpoll.probe() is the same measurement as a dict.

Run it with -m; importing this module gives the xpoll.probe function back (see the end of the file).
"""
import os
import subprocess
import sys

from . import _lib
from . import probe as _probe_function

_TOOL = "xpoll-probe.exe" if sys.platform == "win32" else "xpoll-probe"
_PATH_VARIABLE = {"win32": "PATH", "darwin": "DYLD_LIBRARY_PATH"}.get(sys.platform, "LD_LIBRARY_PATH")


def tool():
    """The path of the bundled xpoll-probe."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), _TOOL)


def main(argv):
    exe = tool()
    if not os.access(exe, os.X_OK):
        sys.stderr.write(f"xpoll.probe: {exe} is missing: this xpoll package was installed without its probe\n")
        return 2
    env = dict(os.environ)
    loaded = _lib.lib._name
    if os.path.isabs(loaded):
        old = env.get(_PATH_VARIABLE)
        env[_PATH_VARIABLE] = os.path.dirname(loaded) + (os.pathsep + old if old else "")
    sys.stdout.flush()
    sys.stderr.flush()
    if sys.platform == "win32":
        return subprocess.call([exe] + argv, env=env)
    os.execve(exe, [exe] + argv, env)  # does not return: the tool's output and exit status are the command's
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
else:
    # `import xpoll.probe` would make xpoll.probe this module, hiding the function of that name. A module that
    # replaces itself in sys.modules is what the import system then returns and binds: the function stays.
    sys.modules[__name__] = _probe_function
