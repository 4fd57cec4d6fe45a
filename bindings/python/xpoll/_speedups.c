/*
 * xpoll._speedups: XpollSelector's register, unregister, modify and select in C.
 *
 * The standard library's selectors do this work in Python around a C poll object; a selector over ctypes
 * pays a Python frame and a ctypes call (150-200 ns) on top. Here the base class of XpollSelector
 * (`SelectorBase`) keeps the fd -> SelectorKey table and calls the C ABI directly, so that one
 * register() or select() is one C call from Python. The rules are the standard library's
 * (selectors._BaseSelectorImpl, _PollLikeSelector): the same checks in the same order, the same exceptions.
 *
 * The C functions are not linked: their addresses come from the libxpoll that the package loaded through
 * ctypes (bind()), so that $XPOLL_LIBRARY decides which library runs, for this module as for the rest.
 * The poller handle belongs to the Python Poller that XpollSelector keeps; attach() borrows it and detach()
 * lets it go before the Poller is closed.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

#include <limits.h>
#include <math.h>

#ifdef _WIN32
#include <windows.h>
#else
#include <time.h>
#endif

#include "xpoll/xpoll.h"

/* selectors.EVENT_READ and EVENT_WRITE. */
#define SEL_READ 1
#define SEL_WRITE 2

typedef int (*add_fn)(xpoll_t *, xpoll_fd_t, uint32_t, uint64_t);
typedef int (*remove_fn)(xpoll_t *, xpoll_fd_t);
typedef int (*wait_ns_fn)(xpoll_t *, xpoll_event_t *, int, int64_t);

/* Set once by bind(). One library per process: the package loads it once. */
static add_fn c_add, c_modify;
static remove_fn c_remove;
static wait_ns_fn c_wait_ns;
static PyObject *error_factory; /* xpoll._error(rc, fd): the exception for an XPOLL_E* code */
static PyObject *timeout_ns_py; /* xpoll.selectors._select_timeout_ns(timeout): the rule for other types */
static PyTypeObject *key_type;  /* selectors.SelectorKey */

typedef struct {
  PyObject_HEAD xpoll_t *p; /* borrowed from the Poller; NULL once detached */
  PyObject *fd_to_key;      /* dict: int fd -> SelectorKey */
  xpoll_event_t *ev;        /* select()'s buffer */
  int ev_cap;
  int waiting; /* a select() is in xpoll_wait with the GIL released: the buffer is in use */
} Selector;

static int64_t monotonic_ns(void) {
#ifdef _WIN32
  return (int64_t)GetTickCount64() * 1000000;
#else
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
#endif
}

/* Sets the Python exception for a negative XPOLL_E* code. */
static void set_error(int rc, long fd) {
  PyObject *exc = fd >= 0 ? PyObject_CallFunction(error_factory, "il", rc, fd)
                          : PyObject_CallFunction(error_factory, "iO", rc, Py_None);
  if (exc != NULL) {
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
  }
}

static int check_bound(void) {
  if (c_wait_ns == NULL) {
    PyErr_SetString(PyExc_RuntimeError, "xpoll._speedups is not bound to a library (bind() first)");
    return -1;
  }
  return 0;
}

/* selectors._fileobj_to_fd: an int, or int(fileobj.fileno()); ValueError otherwise or when negative.
 * Returns a new reference to an exact int, and the number in *fd (LONG_MAX when it does not fit a long). */
static PyObject *fileobj_to_fd(PyObject *fileobj, long *fd) {
  PyObject *num;
  int overflow;
  if (PyLong_Check(fileobj)) {
    num = PyNumber_Index(fileobj);
  } else {
    PyObject *res = PyObject_CallMethod(fileobj, "fileno", NULL);
    num = res == NULL ? NULL : PyNumber_Long(res);
    Py_XDECREF(res);
    if (num == NULL) {
      if (PyErr_ExceptionMatches(PyExc_AttributeError) || PyErr_ExceptionMatches(PyExc_TypeError) ||
          PyErr_ExceptionMatches(PyExc_ValueError)) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "Invalid file object: %R", fileobj);
      }
      return NULL;
    }
  }
  if (num == NULL) return NULL;
  *fd = PyLong_AsLongAndOverflow(num, &overflow);
  if (*fd == -1 && PyErr_Occurred()) {
    Py_DECREF(num);
    return NULL;
  }
  if (overflow > 0) *fd = LONG_MAX;
  if (overflow < 0 || *fd < 0) {
    PyErr_Format(PyExc_ValueError, "Invalid file descriptor: %S", num);
    Py_DECREF(num);
    return NULL;
  }
  return num;
}

/* selectors._BaseSelectorImpl._fileobj_lookup: fileobj_to_fd, or, for a file object that no longer has a
 * descriptor (closed after registration), the key whose fileobj it is. */
static PyObject *lookup(Selector *self, PyObject *fileobj, long *fd) {
  PyObject *num = fileobj_to_fd(fileobj, fd), *k, *key;
  Py_ssize_t pos = 0;
  if (num != NULL || !PyErr_ExceptionMatches(PyExc_ValueError) || self->fd_to_key == NULL) return num;
  while (PyDict_Next(self->fd_to_key, &pos, &k, &key)) {
    if (PyTuple_GET_ITEM(key, 0) == fileobj) {
      PyErr_Clear();
      *fd = PyLong_AsLong(k);
      Py_INCREF(k);
      return k;
    }
  }
  return NULL;
}

/* A SelectorKey, made as tuple.__new__ makes a tuple subclass instance (namedtuple has no other state). */
static PyObject *new_key(PyObject *fileobj, PyObject *fd, PyObject *events, PyObject *data) {
  PyObject *key = key_type->tp_alloc(key_type, 4);
  if (key == NULL) return NULL;
  Py_INCREF(fileobj);
  Py_INCREF(fd);
  Py_INCREF(events);
  Py_INCREF(data);
  PyTuple_SET_ITEM(key, 0, fileobj);
  PyTuple_SET_ITEM(key, 1, fd);
  PyTuple_SET_ITEM(key, 2, events);
  PyTuple_SET_ITEM(key, 3, data);
  return key;
}

/* The events of a register() or modify(): an int with only EVENT_READ and EVENT_WRITE, not zero. */
static int check_events(PyObject *events, uint32_t *mask) {
  long v;
  int overflow = 0;
  if (!PyLong_Check(events)) {
    /* `events & ~3` in the standard library: TypeError for a type without &. */
    PyErr_Format(PyExc_TypeError, "unsupported operand type(s) for &: '%.100s' and 'int'", Py_TYPE(events)->tp_name);
    return -1;
  }
  v = PyLong_AsLongAndOverflow(events, &overflow);
  if (v == -1 && PyErr_Occurred()) return -1;
  if (overflow != 0 || v == 0 || (v & ~(long)(SEL_READ | SEL_WRITE)) != 0) {
    PyErr_Format(PyExc_ValueError, "Invalid events: %R", events);
    return -1;
  }
  *mask = (v & SEL_READ ? XPOLL_IN : 0) | (v & SEL_WRITE ? XPOLL_OUT : 0);
  return 0;
}

static int attached(Selector *self) {
  if (self->fd_to_key == NULL) {
    PyErr_SetString(PyExc_RuntimeError, "the selector was not initialised");
    return -1;
  }
  return 0;
}

/* The arguments (fileobj, events, data=None) of register() and modify(), positional or by keyword. */
static int parse_arguments(const char *format, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                           PyObject **fileobj, PyObject **events, PyObject **data) {
  static char *names[] = {"fileobj", "events", "data", NULL};
  PyObject *tuple, *kw = NULL;
  Py_ssize_t i;
  int ok = 0;
  *data = Py_None;
  if (kwnames == NULL || PyTuple_GET_SIZE(kwnames) == 0) {
    if (nargs == 2 || nargs == 3) {
      *fileobj = args[0];
      *events = args[1];
      if (nargs == 3) *data = args[2];
      return 0;
    }
  }
  /* Keywords, or a wrong count: the general parser, for its usual messages. The objects stay referenced
   * by the caller's arguments. */
  tuple = PyTuple_New(nargs);
  if (tuple == NULL) return -1;
  for (i = 0; i < nargs; i++) {
    Py_INCREF(args[i]);
    PyTuple_SET_ITEM(tuple, i, args[i]);
  }
  if (kwnames != NULL && PyTuple_GET_SIZE(kwnames) > 0) {
    kw = PyDict_New();
    if (kw == NULL) goto done;
    for (i = 0; i < PyTuple_GET_SIZE(kwnames); i++)
      if (PyDict_SetItem(kw, PyTuple_GET_ITEM(kwnames, i), args[nargs + i]) < 0) goto done;
  }
  ok = PyArg_ParseTupleAndKeywords(tuple, kw, format, names, fileobj, events, data);
done:
  Py_DECREF(tuple);
  Py_XDECREF(kw);
  return ok ? 0 : -1;
}

static PyObject *Selector_register(Selector *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
  PyObject *fileobj, *events, *data, *fd_obj, *key;
  long fd;
  uint32_t mask;
  int rc;
  if (parse_arguments("OO|O:register", args, nargs, kwnames, &fileobj, &events, &data) < 0) return NULL;
  if (attached(self) < 0 || check_events(events, &mask) < 0) return NULL;
  fd_obj = lookup(self, fileobj, &fd);
  if (fd_obj == NULL) return NULL;
  rc = PyDict_Contains(self->fd_to_key, fd_obj);
  if (rc != 0) {
    if (rc > 0) PyErr_Format(PyExc_KeyError, "%R (FD %ld) is already registered", fileobj, fd);
    goto fail;
  }
  if (fd > INT_MAX) {
    PyErr_Format(PyExc_ValueError, "Invalid file descriptor: %S", fd_obj);
    goto fail;
  }
  if (self->p == NULL) {
    PyErr_SetString(PyExc_ValueError, "I/O operation on a closed selector");
    goto fail;
  }
  rc = c_add(self->p, (xpoll_fd_t)fd, mask, 0);
  if (rc < 0) {
    set_error(rc, fd); /* nothing is kept */
    goto fail;
  }
  key = new_key(fileobj, fd_obj, events, data);
  if (key == NULL || PyDict_SetItem(self->fd_to_key, fd_obj, key) < 0) {
    c_remove(self->p, (xpoll_fd_t)fd);
    Py_XDECREF(key);
    goto fail;
  }
  Py_DECREF(fd_obj);
  return key;
fail:
  Py_DECREF(fd_obj);
  return NULL;
}

/* The registered key of fileobj (a new reference), or NULL with KeyError "... is not registered". */
static PyObject *registered_key(Selector *self, PyObject *fileobj, PyObject **fd_obj, long *fd) {
  PyObject *key;
  *fd_obj = lookup(self, fileobj, fd);
  if (*fd_obj == NULL) return NULL;
  key = PyDict_GetItemWithError(self->fd_to_key, *fd_obj);
  if (key == NULL) {
    if (!PyErr_Occurred()) PyErr_Format(PyExc_KeyError, "%R is not registered", fileobj);
    Py_CLEAR(*fd_obj);
    return NULL;
  }
  Py_INCREF(key);
  return key;
}

static PyObject *Selector_unregister(Selector *self, PyObject *fileobj) {
  PyObject *fd_obj, *key;
  long fd;
  if (attached(self) < 0) return NULL;
  key = registered_key(self, fileobj, &fd_obj, &fd);
  if (key == NULL) return NULL;
  if (PyDict_DelItem(self->fd_to_key, fd_obj) < 0) {
    Py_DECREF(key);
    Py_DECREF(fd_obj);
    return NULL;
  }
  /* A descriptor closed before it was unregistered is let go all the same. */
  if (self->p != NULL) c_remove(self->p, (xpoll_fd_t)fd);
  Py_DECREF(fd_obj);
  return key;
}

static PyObject *Selector_modify(Selector *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
  PyObject *fileobj, *events, *data, *fd_obj, *key, *new_k = NULL;
  long fd;
  uint32_t mask;
  int changed_events, changed_data, rc;
  if (parse_arguments("OO|O:modify", args, nargs, kwnames, &fileobj, &events, &data) < 0) return NULL;
  if (attached(self) < 0) return NULL;
  key = registered_key(self, fileobj, &fd_obj, &fd);
  if (key == NULL) return NULL;
  changed_events = PyObject_RichCompareBool(events, PyTuple_GET_ITEM(key, 2), Py_NE);
  if (changed_events < 0) goto done;
  if (changed_events) {
    if (check_events(events, &mask) < 0) goto done;
    if (self->p == NULL) {
      PyErr_SetString(PyExc_ValueError, "I/O operation on a closed selector");
      goto done;
    }
    rc = c_modify(self->p, (xpoll_fd_t)fd, mask, 0);
    if (rc < 0) {
      set_error(rc, fd); /* nothing changed */
      goto done;
    }
    changed_data = 1;
  } else {
    changed_data = PyObject_RichCompareBool(data, PyTuple_GET_ITEM(key, 3), Py_NE);
    if (changed_data < 0) goto done;
  }
  if (!changed_data) {
    new_k = key;
    key = NULL;
    goto done;
  }
  new_k = new_key(PyTuple_GET_ITEM(key, 0), PyTuple_GET_ITEM(key, 1), events, data);
  if (new_k != NULL && PyDict_SetItem(self->fd_to_key, fd_obj, new_k) < 0) Py_CLEAR(new_k);
done:
  Py_XDECREF(key);
  Py_DECREF(fd_obj);
  return new_k;
}

/* The time-out in nanoseconds by the standard library's rule (None blocks, non-positive polls, else
 * rounded up, with OverflowError beyond a C int of milliseconds), but not rounded to milliseconds:
 * xpoll_wait_ns takes the nanoseconds, and a backend without XPOLL_CAP_NS_TIMEOUT rounds them up itself.
 * Ints and floats here, anything else through the Python rule. -1 with an exception set. */
static int timeout_ns(PyObject *timeout, int64_t *ns) {
  if (timeout == Py_None) {
    *ns = -1;
    return 0;
  }
  if (PyFloat_CheckExact(timeout)) {
    double t = PyFloat_AS_DOUBLE(timeout);
    if (t <= 0) {
      *ns = 0;
      return 0;
    }
    if (t == t && ceil(t * 1000) <= INT_MAX) {
      *ns = (int64_t)ceil(t * 1e9); /* at most about 2.1e15: exact in a double's range of integers */
      return 0;
    }
  } else if (PyLong_CheckExact(timeout)) {
    int overflow;
    long v = PyLong_AsLongAndOverflow(timeout, &overflow);
    if (overflow < 0 || (overflow == 0 && v <= 0)) {
      *ns = 0;
      return 0;
    }
    if (overflow == 0 && v <= INT_MAX / 1000) {
      *ns = (int64_t)v * 1000000000;
      return 0;
    }
  }
  /* NaN, too large, or another type: the Python rule says which exception. */
  {
    PyObject *r = PyObject_CallFunctionObjArgs(timeout_ns_py, timeout, NULL);
    long long v;
    if (r == NULL) return -1;
    v = PyLong_AsLongLong(r);
    Py_DECREF(r);
    if (v == -1 && PyErr_Occurred()) return -1;
    *ns = (int64_t)v;
    return 0;
  }
}

static PyObject *Selector_select(Selector *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
  PyObject *timeout = Py_None, *ready;
  Py_ssize_t registered, count = 0;
  int max, n, i;
  int64_t ns, deadline;
  if (nargs > 1) return PyErr_Format(PyExc_TypeError, "select() takes at most 1 argument (%zd given)", nargs);
  if (nargs == 1) timeout = args[0];
  if (kwnames != NULL && PyTuple_GET_SIZE(kwnames) > 0) {
    if (nargs != 0 || PyTuple_GET_SIZE(kwnames) != 1 ||
        PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(kwnames, 0), "timeout") != 0)
      return PyErr_Format(PyExc_TypeError, "select() takes one argument, timeout");
    timeout = args[0];
  }
  if (attached(self) < 0 || timeout_ns(timeout, &ns) < 0) return NULL;
  if (self->p == NULL) {
    PyErr_SetString(PyExc_ValueError, "I/O operation on a closed selector");
    return NULL;
  }
  if (self->waiting) {
    set_error(XPOLL_EBUSY, -1); /* another thread waits on this selector, as xpoll_wait would say */
    return NULL;
  }
  registered = PyDict_GET_SIZE(self->fd_to_key);
  max = registered < 1 ? 1 : registered > XPOLL_WAIT_MAX ? XPOLL_WAIT_MAX : (int)registered;
  if (self->ev_cap < max) {
    int cap = max < 64 ? 64 : max;
    xpoll_event_t *ev = PyMem_Realloc(self->ev, sizeof(xpoll_event_t) * (size_t)cap);
    if (ev == NULL) return PyErr_NoMemory();
    self->ev = ev;
    self->ev_cap = cap;
  }
  /* The deadline is fixed before the first wait, so that a signal does not start the time-out again. */
  deadline = ns > 0 ? monotonic_ns() + ns : 0;
  for (;;) {
    xpoll_t *p = self->p;
    self->waiting = 1;
    if (ns == 0) {
      n = c_wait_ns(p, self->ev, max, 0); /* a poll: not worth releasing the GIL */
    } else {
      Py_BEGIN_ALLOW_THREADS n = c_wait_ns(p, self->ev, max, ns);
      Py_END_ALLOW_THREADS
    }
    self->waiting = 0;
    if (n != XPOLL_EINTR) break;
    /* PEP 475: run the signal handlers; an exception from one ends the wait, else wait for the rest. */
    if (PyErr_CheckSignals() < 0) return NULL;
    if (self->p == NULL) {
      PyErr_SetString(PyExc_ValueError, "I/O operation on a closed selector");
      return NULL;
    }
    if (ns > 0) {
      int64_t left = deadline - monotonic_ns();
      ns = left > 0 ? left : 0;
    }
  }
  if (n < 0) {
    set_error(n, -1);
    return NULL;
  }
  ready = PyList_New(n);
  if (ready == NULL) return NULL;
  for (i = 0; i < n; i++) {
    PyObject *fd_obj = PyLong_FromLong((long)self->ev[i].fd), *key, *pair;
    long want, got;
    if (fd_obj == NULL) goto fail;
    key = PyDict_GetItemWithError(self->fd_to_key, fd_obj);
    Py_DECREF(fd_obj);
    if (key == NULL) {
      if (PyErr_Occurred()) goto fail;
      continue;
    }
    want = PyLong_AsLong(PyTuple_GET_ITEM(key, 2));
    if (want == -1 && PyErr_Occurred()) goto fail;
    /* IN is EVENT_READ's bit; OUT becomes EVENT_WRITE. Errors and hang-ups arrive with IN or OUT set
     * already, as the interest asked. */
    got = ((self->ev[i].events & XPOLL_IN) ? SEL_READ : 0) | ((self->ev[i].events & XPOLL_OUT) ? SEL_WRITE : 0);
    got &= want;
    if (!got) continue;
    pair = PyTuple_New(2);
    if (pair == NULL) goto fail;
    Py_INCREF(key);
    PyTuple_SET_ITEM(pair, 0, key);
    PyTuple_SET_ITEM(pair, 1, PyLong_FromLong(got)); /* 1 to 3: cached small ints, never NULL */
    PyList_SET_ITEM(ready, count, pair);
    count++;
  }
  if (count < n && PyList_SetSlice(ready, count, n, NULL) < 0) goto fail;
  return ready;
fail:
  /* Unfilled slots are NULL, which the list's deallocation skips. */
  Py_DECREF(ready);
  return NULL;
}

static PyObject *Selector_fileobj_lookup(Selector *self, PyObject *fileobj) {
  long fd;
  if (attached(self) < 0) return NULL;
  return lookup(self, fileobj, &fd);
}

static PyObject *Selector_get_key(Selector *self, PyObject *fileobj) {
  PyObject *fd_obj, *key;
  long fd;
  if (self->fd_to_key == NULL || self->p == NULL) {
    /* Closed (or not initialised): BaseSelector.get_key's rule. */
    PyErr_SetString(PyExc_RuntimeError, "Selector is closed");
    return NULL;
  }
  key = registered_key(self, fileobj, &fd_obj, &fd);
  if (key == NULL) return NULL;
  Py_DECREF(fd_obj);
  return key;
}

static PyObject *Selector_attach(Selector *self, PyObject *handle) {
  void *p = PyLong_AsVoidPtr(handle);
  if (p == NULL) {
    if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "attach() needs a poller handle");
    return NULL;
  }
  if (check_bound() < 0) return NULL;
  if (self->fd_to_key == NULL && (self->fd_to_key = PyDict_New()) == NULL) return NULL;
  self->p = p;
  Py_RETURN_NONE;
}

static PyObject *Selector_detach(Selector *self, PyObject *unused) {
  (void)unused;
  if (self->waiting) {
    set_error(XPOLL_EBUSY, -1); /* the handle is in use by a select() in another thread */
    return NULL;
  }
  self->p = NULL;
  Py_RETURN_NONE;
}

static int Selector_traverse(Selector *self, visitproc visit, void *arg) {
  Py_VISIT(self->fd_to_key);
  return 0;
}

static int Selector_clear(Selector *self) {
  Py_CLEAR(self->fd_to_key);
  return 0;
}

static void Selector_dealloc(Selector *self) {
  PyObject_GC_UnTrack(self);
  Selector_clear(self);
  PyMem_Free(self->ev);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Selector_methods[] = {
    {"register", (PyCFunction)(void (*)(void))Selector_register, METH_FASTCALL | METH_KEYWORDS,
     "register(fileobj, events, data=None) -> SelectorKey"},
    {"unregister", (PyCFunction)Selector_unregister, METH_O, "unregister(fileobj) -> SelectorKey"},
    {"modify", (PyCFunction)(void (*)(void))Selector_modify, METH_FASTCALL | METH_KEYWORDS,
     "modify(fileobj, events, data=None) -> SelectorKey"},
    {"select", (PyCFunction)(void (*)(void))Selector_select, METH_FASTCALL | METH_KEYWORDS,
     "select(timeout=None) -> [(SelectorKey, events)]"},
    {"get_key", (PyCFunction)Selector_get_key, METH_O, "get_key(fileobj) -> SelectorKey"},
    {"_fileobj_lookup", (PyCFunction)Selector_fileobj_lookup, METH_O,
     "The descriptor of fileobj, as selectors finds it."},
    {"_attach", (PyCFunction)Selector_attach, METH_O, "Borrows a poller handle (an int) and starts the table."},
    {"_detach", (PyCFunction)Selector_detach, METH_NOARGS, "Lets the poller handle go."},
    {NULL, NULL, 0, NULL}};

static PyMemberDef Selector_members[] = {
    {"_fd_to_key", T_OBJECT, offsetof(Selector, fd_to_key), READONLY, "fd -> SelectorKey"}, {NULL, 0, 0, 0, NULL}};

static PyTypeObject SelectorType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "xpoll._speedups.SelectorBase",
    .tp_basicsize = sizeof(Selector),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The C half of xpoll.selectors.XpollSelector.",
    .tp_traverse = (traverseproc)Selector_traverse,
    .tp_clear = (inquiry)Selector_clear,
    .tp_dealloc = (destructor)Selector_dealloc,
    .tp_methods = Selector_methods,
    .tp_members = Selector_members,
    .tp_new = PyType_GenericNew,
};

static PyObject *address(PyObject *o) {
  void *p = PyLong_AsVoidPtr(o);
  if (p == NULL && !PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "bind() needs function addresses");
  return p;
}

static PyObject *bind(PyObject *module, PyObject *args) {
  PyObject *add, *modify, *remove, *wait, *err, *tmo;
  void *a, *m, *r, *w;
  (void)module;
  if (!PyArg_ParseTuple(args, "OOOOOO:bind", &add, &modify, &remove, &wait, &err, &tmo)) return NULL;
  if (!PyCallable_Check(err) || !PyCallable_Check(tmo))
    return PyErr_Format(PyExc_TypeError, "bind(): the error and time-out rules must be callables");
  if ((a = address(add)) == NULL || (m = address(modify)) == NULL || (r = address(remove)) == NULL ||
      (w = address(wait)) == NULL)
    return NULL;
  c_add = (add_fn)a;
  c_modify = (add_fn)m;
  c_remove = (remove_fn)r;
  c_wait_ns = (wait_ns_fn)w;
  Py_INCREF(err);
  Py_XSETREF(error_factory, err);
  Py_INCREF(tmo);
  Py_XSETREF(timeout_ns_py, tmo);
  Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"bind", bind, METH_VARARGS,
     "bind(add, modify, remove, wait_ns, error, timeout_ns): the addresses of xpoll_add, xpoll_modify, "
     "xpoll_remove and xpoll_wait_ns in the loaded library, the factory of exceptions for XPOLL_E* codes, and the "
     "time-out rule (seconds to nanoseconds)."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT,
                                        "xpoll._speedups",
                                        "XpollSelector's hot paths over the C ABI.",
                                        -1,
                                        module_methods,
                                        NULL,
                                        NULL,
                                        NULL,
                                        NULL};

PyMODINIT_FUNC PyInit__speedups(void) {
  PyObject *m, *selectors;
  if (PyType_Ready(&SelectorType) < 0) return NULL;
  selectors = PyImport_ImportModule("selectors");
  if (selectors == NULL) return NULL;
  key_type = (PyTypeObject *)PyObject_GetAttrString(selectors, "SelectorKey");
  Py_DECREF(selectors);
  if (key_type == NULL) return NULL;
  if (!PyType_Check(key_type) || !PyType_IsSubtype(key_type, &PyTuple_Type)) {
    PyErr_SetString(PyExc_ImportError, "selectors.SelectorKey is not a tuple type");
    return NULL;
  }
  m = PyModule_Create(&module_def);
  if (m == NULL) return NULL;
  Py_INCREF(&SelectorType);
  if (PyModule_AddObject(m, "SelectorBase", (PyObject *)&SelectorType) < 0) {
    Py_DECREF(&SelectorType);
    Py_DECREF(m);
    return NULL;
  }
  PyModule_AddIntConstant(m, "EVENT_SIZE", (long)sizeof(xpoll_event_t));
  return m;
}
