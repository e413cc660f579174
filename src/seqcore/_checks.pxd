# O(1) checks of the shapes the compiled entry points (the ``def`` functions
# of _recurrent, _optim, _losses) rely on: they form raw pointers from their
# arguments' shapes, so an inconsistent shape would read or write out of
# bounds.  Inline here, so that every module gets its own copy without a
# module of its own.

from libc.limits cimport INT_MAX


cdef inline int check_shape(str fn, str name, const Py_ssize_t* got,
                            tuple expected, str origin,
                            bint rows_at_least=False) except -1:
    """Raise ValueError unless ``got[:len(expected)]`` is ``expected``.

    ``expected`` holds sizes, or None for any; with ``rows_at_least`` the
    first size is a minimum.  ``origin`` says where the expected sizes come
    from (e.g. "T, B from gates, H from W_hh"), so that the message names the
    argument at fault even when it is the one the sizes were read from.
    """
    cdef Py_ssize_t i, want, ndim = len(expected)
    cdef bint ok = True
    for i in range(ndim):
        if expected[i] is None:
            continue
        want = expected[i]
        if not (got[i] == want or (rows_at_least and i == 0 and got[i] > want)):
            ok = False
    if ok:
        return 0
    shown = ["any" if e is None else (f">={e}" if rows_at_least and i == 0 else str(e))
             for i, e in enumerate(expected)]
    given = tuple([got[i] for i in range(ndim)])
    raise ValueError(f"{fn}: {name} has shape {given}, "
                     f"expected ({', '.join(shown)}{',' if len(shown) == 1 else ''})"
                     + (f" ({origin})" if origin else ""))


cdef inline int check_blas_ld(str fn, str what, Py_ssize_t ld) except -1:
    """A row length goes to ?gemm as a leading dimension, an int that cannot
    be split (the BLAS shim splits m, n and k instead)."""
    if ld > INT_MAX:
        raise ValueError(f"{fn}: {what} = {ld} exceeds the BLAS's 32-bit limit "
                         f"{INT_MAX} on a row length")
    return 0
