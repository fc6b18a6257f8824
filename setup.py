"""Build of the C++ block-sparse kernels (optimum_ro.sparse._C).

The extension uses only the CPython C API and raw pointers (no libtorch), so the
isolated build needs nothing but setuptools and a C++17 compiler. Each ISA lives
in its own translation unit compiled with ``#pragma GCC target`` and is chosen
at run time, so one binary runs on AVX2-only and AVX-512 machines alike.
"""

import glob

from setuptools import Extension, setup

ext = Extension(
    "optimum_ro.sparse._C",
    sources=sorted(glob.glob("csrc/*.cpp")),
    depends=sorted(glob.glob("csrc/*.h") + glob.glob("csrc/*.inc")),  # rebuild when a shared header changes
    include_dirs=["csrc"],
    # -ffp-contract=off: every FMA in the kernels is an explicit intrinsic. Left to itself the compiler may fuse
    # a multiply and an add (e.g. GELU's last product and the residual) in one copy of an unrolled loop and
    # not in another, so results would depend on the compiler and on the tiling: GCC 13 did, GCC 12 did not.
    extra_compile_args=["-O3", "-std=c++17", "-fopenmp", "-fno-math-errno", "-ffp-contract=off", "-Wall"],
    extra_link_args=["-fopenmp"],
    language="c++",
)

setup(ext_modules=[ext])
