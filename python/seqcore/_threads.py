"""Find the BLAS behind ``scipy.linalg.cython_blas`` and hand its thread
controls to the core, which runs each time loop's small per-step products on
one thread (see ``src/seqcore/_blas.pyx``).

Only OpenBLAS (what SciPy's wheels ship) is recognised; with any other BLAS
the core leaves threading to the BLAS and to the user (threadpoolctl).
"""

import ctypes
import os

from . import _blas


def _scipy_openblas():
    import scipy
    from threadpoolctl import ThreadpoolController

    scipy_dir = os.path.dirname(os.path.dirname(os.path.abspath(scipy.__file__)))
    for ctl in ThreadpoolController().lib_controllers:
        if ctl.internal_api != "openblas":
            continue
        path = os.path.abspath(ctl.filepath)
        # SciPy's wheels vendor their OpenBLAS in site-packages/scipy.libs
        if path.startswith(os.path.join(scipy_dir, "scipy.libs")) or "scipy" in os.path.basename(
                os.path.dirname(path)):
            return ctl.dynlib
    return None


def install():
    """Give the core the thread controls of SciPy's OpenBLAS; True when found."""
    try:
        lib = _scipy_openblas()
    except Exception:  # threadpoolctl missing or a BLAS it cannot inspect
        return False
    if lib is None:
        return False
    for prefix in ("scipy_openblas", "openblas"):
        try:
            get = getattr(lib, f"{prefix}_get_num_threads")
            set_ = getattr(lib, f"{prefix}_set_num_threads")
        except AttributeError:
            continue
        addr = [ctypes.cast(f, ctypes.c_void_p).value for f in (get, set_)]
        return _blas.set_thread_control(addr[0], addr[1])
    return False


BLAS_THREAD_CONTROL = install()
