#!/usr/bin/env bash
# Build and run tests/c/test_kernels.c (the kernels and the worker pool,
# outside Python) with every compiler this machine has:
#   gcc and clang, with the GNU extensions the headers use on Linux and
#   macOS, and with -DSC_NO_GNU_EXTENSIONS -std=c11 -pedantic-errors (the
#   plain C paths MSVC gets: no vector extensions, no __attribute__);
#   aarch64 (gcc-aarch64-linux-gnu), run under qemu-aarch64;
#   Windows (mingw-w64): the Windows-threads pool and, with
#   -DSC_NO_GNU_EXTENSIONS, the Interlocked atomics MSVC gets; run under wine
#   where it is installed, else compiled only.
# A compiler that is missing is reported and skipped, unless
# SEQCORE_C_TESTS_REQUIRE="gcc clang aarch64 mingw" names it.  The generic
# kernels of every x86-64 build must give the same bits (checksum).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
include="$here/../../include"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
require=" ${SEQCORE_C_TESTS_REQUIRE:-} "
warn=(-Wall -Wextra -Werror -Wno-unused-function)
status=0
declare -A checksum

missing() {
    if [[ "$require" == *" $1 "* ]]; then
        echo "c-tests: $1 is required but missing ($2)"; status=1
    else
        echo "c-tests: skip $1 ($2 not installed)"
    fi
}

# build NAME COMPILER FLAGS... ; then run NAME [RUNNER...]
build() {
    local name="$1" cc="$2"; shift 2
    echo "c-tests: build $name: $cc $*"
    "$cc" "$@" -I"$include" "$here/test_kernels.c" -o "$out/$name" -lm
}

# run LABEL BINARY [RUNNER...]: the checksum of its product lands in checksum[LABEL]
run() {
    local label="$1" name="$2"; shift 2
    local log="$out/$label.log"
    if "$@" "$out/$name" > "$log" 2>&1; then
        tr -d '\r' < "$log" | grep -v "^matmul\|^pool:" | sed "s/^/  $label: /" || true
        checksum[$label]="$(tr -d '\r' < "$log" | sed -n 's/^checksum [a-z0-9]* //p')"
    else
        sed "s/^/  $label: /" "$log"; echo "c-tests: $label FAILED"; status=1
    fi
}

gnu=(-O2 -std=gnu11 -D_GNU_SOURCE "${warn[@]}" -pthread)
plain=(-O2 -std=c11 -pedantic-errors -DSC_NO_GNU_EXTENSIONS "${warn[@]}")

for cc in gcc clang; do
    if ! command -v "$cc" > /dev/null; then missing "$cc" "$cc"; continue; fi
    build "$cc" "$cc" "${gnu[@]}"
    run "$cc" "$cc"
    run "$cc-generic" "$cc" env SEQCORE_KERNELS=generic
    build "$cc-plain" "$cc" "${plain[@]}"
    run "$cc-plain" "$cc-plain"
    build "$cc-serial" "$cc" "${gnu[@]}" -DSC_POOL_SERIAL
    run "$cc-serial" "$cc-serial" env SEQCORE_KERNELS=generic
done

if command -v aarch64-linux-gnu-gcc > /dev/null && command -v qemu-aarch64 > /dev/null; then
    sysroot=/usr/aarch64-linux-gnu
    build aarch64 aarch64-linux-gnu-gcc "${gnu[@]}" -static
    run aarch64 aarch64 qemu-aarch64 -L "$sysroot"
    build aarch64-plain aarch64-linux-gnu-gcc "${plain[@]}" -static
    run aarch64-plain aarch64-plain qemu-aarch64 -L "$sysroot"
else
    missing aarch64 "gcc-aarch64-linux-gnu or qemu-user"
fi

if command -v x86_64-w64-mingw32-gcc > /dev/null; then
    # (on Windows only the generic kernels are built: see cpu.h)
    build mingw.exe x86_64-w64-mingw32-gcc "${gnu[@]}" -static
    build mingw-plain.exe x86_64-w64-mingw32-gcc -O2 -std=c11 -DSC_NO_GNU_EXTENSIONS "${warn[@]}" -static
    wine_bin="$(command -v wine64 || command -v wine || ls /usr/lib/wine/wine64 2>/dev/null || true)"
    for variant in mingw mingw-plain; do
        if [[ -n "$wine_bin" ]]; then
            WINEDEBUG=-all WINEPREFIX="$out/wine" run "$variant" "$variant.exe" "$wine_bin"
        else
            echo "c-tests: $variant.exe compiled, not run (no wine)"
        fi
    done
else
    missing mingw "gcc-mingw-w64-x86-64"
fi

# the generic kernels of every x86-64 build agree to the bit (no FMA there)
ref="${checksum[gcc-generic]:-}"
for name in clang-generic gcc-plain clang-plain gcc-serial clang-serial aarch64-plain mingw mingw-plain; do
    got="${checksum[$name]:-}"
    [[ -z "$ref" || -z "$got" ]] && continue
    if [[ "$got" != "$ref" ]]; then
        echo "c-tests: generic kernels of $name give other bits ($got, gcc: $ref)"; status=1
    fi
done
# and the builds that fuse multiply-adds (x86 AVX2/AVX-512, aarch64 by
# default) agree with each other: each entry is one sum in k order
native="${checksum[gcc]:-}"
if [[ -n "$native" && "$native" != "$ref" && -n "${checksum[aarch64]:-}" ]]; then
    for name in clang aarch64; do
        if [[ "${checksum[$name]:-}" != "$native" ]]; then
            echo "c-tests: FMA kernels of $name give other bits (${checksum[$name]:-}, gcc: $native)"
            status=1
        fi
    done
fi
echo "c-tests: generic-kernel checksum ${ref:-none}, FMA kernels ${native:-none}; exit $status"
exit $status
