"""Builds the xpoll package from this repository's own sources.

During build_ext, CMake builds libxpoll and the xpoll-probe tool from the repository (found as described in
`source_dir`), and both are copied into the package beside `_speedups`, the small extension module that runs
XpollSelector's hot paths in C. Nothing is taken from the system but a C/C++ compiler and CMake, so that
`pip install --no-index --no-build-isolation bindings/python` works offline, and `pip wheel` makes a wheel that
carries the library.

Environment:
  XPOLL_SOURCE_DIR      the repository to build from (default: the one around bindings/python, ../..)
  XPOLL_LIBKQUEUE_ROOT  where libkqueue is installed, for the kqueue backend on Linux (pkg-config also finds it)
  XPOLL_CMAKE_ARGS      more arguments for CMake's configure step, e.g. "-DXPOLL_BACKEND_KQUEUE=OFF"
"""
import os
import shlex
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))

# What CMake's build tree holds, and the name each file takes inside the package.
if sys.platform == "win32":
    LIBRARY, PROBE = ("xpoll.dll", "xpoll.dll"), ("xpoll-probe.exe", "xpoll-probe.exe")
elif sys.platform == "darwin":
    LIBRARY, PROBE = ("libxpoll.1.dylib", "libxpoll.1.dylib"), ("xpoll-probe", "xpoll-probe")
else:
    LIBRARY, PROBE = ("libxpoll.so.1", "libxpoll.so.1"), ("xpoll-probe", "xpoll-probe")


def source_dir():
    """The xpoll repository: $XPOLL_SOURCE_DIR when set (and then only it), else the repository this directory
    belongs to. pip 21.3 and later (Debian 12 has 23.0) build a local directory in place, so ../.. is the
    repository; an older pip, or a copy of bindings/python, needs XPOLL_SOURCE_DIR."""
    env = os.environ.get("XPOLL_SOURCE_DIR")
    candidates = [("$XPOLL_SOURCE_DIR", env)] if env else [("the repository around bindings/python",
                                                            os.path.join(HERE, os.pardir, os.pardir))]
    for what, path in candidates:
        path = os.path.abspath(path)
        if os.path.isfile(os.path.join(path, "include", "xpoll", "xpoll.h")) and \
                os.path.isfile(os.path.join(path, "CMakeLists.txt")):
            return path
        looked = f"{what}: {path}"
    sys.exit(f"xpoll: cannot find the xpoll sources (CMakeLists.txt and include/xpoll/xpoll.h). Looked at {looked}.\n"
             "Build from bindings/python inside the repository, or set XPOLL_SOURCE_DIR to the repository.")


class BuildWithLibrary(build_ext):
    """build_ext that first builds libxpoll and xpoll-probe with CMake and puts them in the package."""

    def run(self):
        src = source_dir()
        for ext in self.extensions:
            ext.include_dirs.append(os.path.join(src, "include"))
        built = self._cmake(src)
        super().run()
        # Beside _speedups, wherever this build puts the package (build_lib, or the sources with --inplace).
        dest = os.path.dirname(self.get_ext_fullpath("xpoll._speedups"))
        os.makedirs(dest, exist_ok=True)
        for path, name in built:
            target = os.path.join(dest, name)
            if os.path.lexists(target):
                os.remove(target)
            shutil.copy2(path, target)  # the real file, not a symbolic link: wheels hold no links
            print(f"xpoll: {name} <- {path}")

    def _cmake(self, src):
        cmake = shutil.which("cmake")
        if cmake is None:
            sys.exit("xpoll: CMake (3.21 or later) is needed to build libxpoll; install it (Debian: apt install cmake)")
        build = os.path.join(os.path.abspath(self.build_temp), "libxpoll")
        config = "Release"
        args = [cmake, "-S", src, "-B", build, f"-DCMAKE_BUILD_TYPE={config}", "-DXPOLL_BUILD_TESTS=OFF",
                "-DXPOLL_BUILD_EXAMPLES=OFF", "-DXPOLL_BUILD_BENCH=OFF",
                # The probe runs from inside the package, beside the library: its run path is made relative to
                # itself ($ORIGIN) with the library in the same directory, and no build directory is recorded.
                "-DCMAKE_INSTALL_BINDIR=lib", "-DCMAKE_INSTALL_LIBDIR=lib", "-DCMAKE_BUILD_WITH_INSTALL_RPATH=ON"]
        kqueue_root = os.environ.get("XPOLL_LIBKQUEUE_ROOT")
        if kqueue_root:
            args.append(f"-DXPOLL_LIBKQUEUE_ROOT={kqueue_root}")
        args += shlex.split(os.environ.get("XPOLL_CMAKE_ARGS", ""))
        self._run(args)
        jobs = str(self.parallel or os.cpu_count() or 1)
        self._run([cmake, "--build", build, "--config", config, "--target", "xpoll", "xpoll-probe", "--parallel",
                   jobs])
        found = []
        for (name, as_name), where in ((LIBRARY, ("", "bin", config, os.path.join("bin", config))),
                                       (PROBE, ("tools", os.path.join("tools", config), "bin",
                                                os.path.join("bin", config)))):
            paths = [os.path.join(build, w, name) for w in where]
            path = next((p for p in paths if os.path.exists(p)), None)
            if path is None:
                sys.exit(f"xpoll: CMake built no {name} (looked at {', '.join(paths)})")
            found.append((os.path.realpath(path), as_name))
        return found

    @staticmethod
    def _run(args):
        print("xpoll: " + " ".join(shlex.quote(a) for a in args), flush=True)
        subprocess.run(args, check=True)


setup(
    ext_modules=[Extension("xpoll._speedups", sources=["xpoll/_speedups.c"])],
    cmdclass={"build_ext": BuildWithLibrary},
)
