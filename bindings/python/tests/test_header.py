"""No drift between include/xpoll/xpoll.h and what the package restates (xpoll/_header.py, xpoll/_lib.py).

A small C program compiled against the header prints every constant the package restates and the size and
field offsets of every struct; the header is also read for its list of constants, struct fields and
functions, so that one added there and not yet handled here fails this test instead of going unnoticed.
"""
import ctypes
import errno
import os
import re
import shutil
import subprocess
import sysconfig

import pytest

import xpoll
from xpoll import _header, _lib

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("XPOLL_SOURCE_DIR") or os.path.join(HERE, os.pardir, os.pardir, os.pardir)
HEADER = os.path.join(SOURCE, "include", "xpoll", "xpoll.h")


def header_text():
    assert os.path.isfile(HEADER), f"no {HEADER}: run the tests from the repository, or set XPOLL_SOURCE_DIR"
    with open(HEADER) as f:
        text = f.read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)  # comments, which hold example code
    return re.sub(r"//[^\n]*", " ", text)


def header_macros():
    """Every object-like XPOLL_ macro the header defines."""
    return set(re.findall(r"^\s*#\s*define\s+(XPOLL_\w+)(?![\w(])", header_text(), flags=re.M))


def header_structs():
    """{typedef name: [field names in order]} of every struct the header defines with a body."""
    out = {}
    for body, name in re.findall(r"typedef\s+struct\s+\w+\s*\{(.*?)\}\s*(\w+)\s*;", header_text(), flags=re.S):
        fields = []
        for decl in body.split(";"):
            decl = decl.strip()
            if decl:
                fields.append(re.search(r"(\w+)\s*(\[[^\]]*\])?\s*$", decl).group(1))
        out[name] = fields
    return out


def header_functions():
    """{name: number of parameters} of every XPOLL_API function."""
    out = {}
    for name, params in re.findall(r"XPOLL_API\s+[^;(]*?\b(xpoll_\w+)\s*\(([^)]*)\)\s*;", header_text()):
        params = params.strip()
        out[name] = 0 if params in ("", "void") else params.count(",") + 1
    return out


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """What the C compiler says of the header: {"XPOLL_IN": 1, "sizeof xpoll_event_t": 16, "offsetof ...": n}."""
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(cc) is None:
        cc = "cc"
    lines = ["#include <stddef.h>", "#include <stdio.h>", '#include "xpoll/xpoll.h"', "int main(void) {"]
    for name in sorted(_header.CONSTANTS):
        lines.append(f'  printf("%s %lld\\n", "{name}", (long long)({name}));')
    for cname, struct in _header.STRUCTS.items():
        lines.append(f'  printf("sizeof {cname} %zu\\n", sizeof({cname}));')
        for field, _ in struct._fields_:
            lines.append(f'  printf("offsetof {cname}.{field} %zu\\n", offsetof({cname}, {field}));')
    lines += ["  return 0;", "}"]
    d = tmp_path_factory.mktemp("header")
    src, exe = d / "print.c", d / "print"
    src.write_text("\n".join(lines) + "\n")
    build = subprocess.run([cc, "-std=c99", "-Wall", "-Werror", "-I", os.path.join(SOURCE, "include"), str(src),
                            "-o", str(exe)], capture_output=True, text=True, timeout=120)
    assert build.returncode == 0, f"the header check does not compile (a constant or field gone?):\n{build.stderr}"
    out = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60, check=True).stdout
    return {k: int(v) for k, v in (line.rsplit(" ", 1) for line in out.splitlines())}


def test_every_header_constant_is_restated_or_named_as_not():
    macros = header_macros()
    unknown = macros - set(_header.CONSTANTS) - set(_header.NOT_RESTATED)
    assert not unknown, f"xpoll.h defines constants the Python package does not know: {sorted(unknown)}; add " \
                        "them to xpoll/_header.py (CONSTANTS, or NOT_RESTATED with the reason)"
    gone = (set(_header.CONSTANTS) | set(_header.NOT_RESTATED)) - macros
    assert not gone, f"xpoll/_header.py names constants that xpoll.h no longer defines: {sorted(gone)}"


def test_every_restated_constant_has_the_header_value(compiled):
    wrong = {name: (value, compiled[name]) for name, value in _header.CONSTANTS.items() if compiled[name] != value}
    assert not wrong, f"(package, header): {wrong}"


def test_the_public_constants_are_the_header_ones():
    for name in ("IN", "PRI", "OUT", "ERR", "HUP", "RDHUP", "ONESHOT", "EDGE", "EXCLUSIVE", "SHARED", "CAP_EXCLUSIVE",
                 "CAP_NS_TIMEOUT", "CAP_PRI", "CAP_FD", "WAIT_MAX"):
        assert getattr(xpoll, name) == _header.CONSTANTS["XPOLL_" + name]


def test_every_capability_has_a_name():
    caps = {name: value for name, value in _header.CONSTANTS.items() if name.startswith("XPOLL_CAP_")}
    assert set(_header.CAPABILITIES) == set(caps.values())
    for name, value in caps.items():
        assert _header.CAPABILITIES[value] == name[len("XPOLL_CAP_"):].lower()


def test_every_error_code_becomes_the_exception_its_name_says():
    codes = {name: value for name, value in _header.CONSTANTS.items() if name.startswith("XPOLL_E") and value < 0}
    assert set(codes) == set(_header.ERROR_CODES)
    # The codes with no errno of their name, and what they are in Python.
    special = {"XPOLL_EINVAL": ValueError, "XPOLL_ENOMEM": MemoryError, "XPOLL_ENOBACKEND": ValueError,
               "XPOLL_EFORKED": RuntimeError}
    for name, code in codes.items():
        e = xpoll._error(code)
        assert _lib.lib.xpoll_errname(code).decode() == name
        if name in special:
            assert type(e) is special[name], name
        else:
            assert isinstance(e, OSError) and e.errno == getattr(errno, name[len("XPOLL_"):]), (name, e)


def test_every_struct_matches_the_header(compiled):
    structs = header_structs()
    assert set(structs) == set(_header.STRUCTS), "a struct added to or gone from xpoll.h: update xpoll/_header.py"
    for cname, struct in _header.STRUCTS.items():
        assert [f for f, _ in struct._fields_] == structs[cname], cname
        assert ctypes.sizeof(struct) == compiled[f"sizeof {cname}"], cname
        for field, _ in struct._fields_:
            assert getattr(struct, field).offset == compiled[f"offsetof {cname}.{field}"], f"{cname}.{field}"


def test_every_function_is_declared_with_its_parameter_count():
    functions = header_functions()
    declared = {name: len(args) for name, _, args in _lib.FUNCTIONS}
    assert declared == functions


def test_the_checks_see_an_addition(tmp_path, monkeypatch):
    # The parsers find a constant, a field and a function added to a copy of the header.
    text = open(HEADER).read().replace("#define XPOLL_WAIT_MAX 1048576",
                                       "#define XPOLL_WAIT_MAX 1048576\n#define XPOLL_NEW_FLAG 0x40000u")
    text = text.replace("  uint32_t events; /**<", "  uint32_t events;\n  uint32_t added; /**<", 1)
    text = text.replace("XPOLL_API int xpoll_wake(", "XPOLL_API int xpoll_new_call(xpoll_t *p, int x);\n"
                        "XPOLL_API int xpoll_wake(", 1)
    copy = tmp_path / "xpoll.h"
    copy.write_text(text)
    monkeypatch.setitem(globals(), "HEADER", str(copy))
    assert "XPOLL_NEW_FLAG" in header_macros()
    assert header_structs()["xpoll_event_t"][-1] == "added"
    assert header_functions()["xpoll_new_call"] == 2
