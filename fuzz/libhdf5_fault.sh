#!/usr/bin/env bash
# Exits 0 when the first sanitizer or libFuzzer report in LOG (a libFuzzer log) is libhdf5's own fault, 1 when
# it is ours or the log holds no report; prints the verdict and the frame it rests on. Debian's libhdf5 1.10 overflows its own buffers, loops, or allocates
# gigabytes on some corrupt files (docs/reliability.md), and no check before H5Fopen/H5Dread can tell such a
# file apart, so scripts/fuzz reports those and does not fail on them.
# libhdf5's fault: the innermost frame of the report's stack that is not the sanitizer's (allocator,
# interceptors), libFuzzer's or glibc's (memcpy and friends are named by libc.so or by their glibc source,
# string/../sysdeps/...) is in libhdf5, and so is that of the "allocated by" stack when the report has one: an
# overflow of a buffer we allocated (H5Dread into too short a buffer) is ours although libhdf5 wrote it.
#   fuzz/libhdf5_fault.sh LOG
set -euo pipefail
log=${1:?usage: fuzz/libhdf5_fault.sh LOG}
awk '
  /ERROR: (AddressSanitizer|libFuzzer: (timeout|out-of-memory))/ { if (!seen) { seen = 1; want = 1 }; next }
  !seen { next }
  /allocated by thread/ { want = 1; alloc = 1; next }
  /^SUMMARY:/ { exit }
  want && /^ +#[0-9]+ / {
    if ($0 ~ /__sanitizer|__asan|__interceptor_|fuzzer::|libc\.so|sysdeps\/|[ \/](string|csu)\/| in (malloc|calloc|realloc|free|operator new|operator new\[\]|operator delete)[ (]/) next
    want = 0
    sub(/^ +/, "")
    if ($0 ~ /libhdf5/) { hdf5 += 1; if (!why) why = $0 } else { ours += 1; why = $0 }
  }
  END {
    if (!seen) { print "ours: no sanitizer or libFuzzer report in the log"; exit 1 }
    if (hdf5 > 0 && ours == 0) { print "libhdf5: " why; exit 0 }
    print "ours: " why; exit 1
  }
' "$log"
