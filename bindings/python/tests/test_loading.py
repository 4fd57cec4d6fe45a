"""Where the package finds libxpoll, and what it says when it cannot."""
import os
import shutil
import subprocess
import sys

import xpoll

PKG = os.path.dirname(os.path.abspath(xpoll.__file__))


def run(code, env):
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                          cwd="/")


def base_env():
    env = {k: v for k, v in os.environ.items() if k not in ("XPOLL_LIBRARY", "LD_LIBRARY_PATH")}
    env["PYTHONPATH"] = os.path.dirname(PKG)
    return env


def test_environment_variable_naming_a_missing_file_is_a_clear_error():
    env = base_env()
    env["XPOLL_LIBRARY"] = "/nonexistent/libxpoll.so.1"
    p = run("import xpoll", env)
    assert p.returncode != 0
    assert "XPOLL_LIBRARY='/nonexistent/libxpoll.so.1' could not be loaded" in p.stderr


def test_nothing_found_names_every_place_looked(tmp_path):
    pkg = tmp_path / "xpoll"
    shutil.copytree(PKG, pkg, ignore=shutil.ignore_patterns("libxpoll*", "__pycache__"))
    env = base_env()
    env["PYTHONPATH"] = str(tmp_path)
    p = run("import xpoll", env)
    if p.returncode == 0:  # installed on the system: the last resort worked
        return
    assert "cannot find the xpoll C library" in p.stderr
    assert "beside the package" in p.stderr and "XPOLL_LIBRARY" in p.stderr


def test_the_package_carries_its_library():
    # Installed by pip, the package finds the library it carries: no XPOLL_LIBRARY, no LD_LIBRARY_PATH.
    lib = os.path.join(PKG, "libxpoll.so.1")
    assert os.path.isfile(lib) and not os.path.islink(lib)
    p = run("import xpoll, xpoll._lib as l; print(l.lib._name); print(xpoll.backends())", base_env())
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[0] == lib


def test_xpoll_library_wins_over_the_one_beside_the_package(tmp_path):
    other = tmp_path / "elsewhere" / "libxpoll-other.so"
    other.parent.mkdir()
    shutil.copy(os.path.join(PKG, "libxpoll.so.1"), other)
    env = base_env()
    env["XPOLL_LIBRARY"] = str(other)
    p = run("import xpoll, xpoll._lib as l, xpoll.selectors as s; print(l.lib._name); s.XpollSelector().close()", env)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == str(other)


def test_a_library_beside_a_copy_of_the_package_is_found(tmp_path):
    pkg = tmp_path / "xpoll"
    shutil.copytree(PKG, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    env = base_env()
    env["PYTHONPATH"] = str(tmp_path)
    p = run("import xpoll, xpoll._lib as l; print(l.lib._name)", env)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == str(pkg / "libxpoll.so.1")
