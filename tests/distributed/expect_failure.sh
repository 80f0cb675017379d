#!/bin/sh
# expect_failure.sh REGEX COMMAND...: passes when COMMAND exits non-zero and its output (stdout and stderr)
# matches the extended regular expression REGEX; prints the output either way. COMMAND runs with TMPDIR set to a
# fresh directory, removed afterwards: a process that is killed or exits early cannot remove its own files.
pattern=$1
shift
TMPDIR=$(mktemp -d "${TMPDIR:-/tmp}/engine_expect_failure.XXXXXX") || exit 1
export TMPDIR
out=$("$@" 2>&1)
rc=$?
rm -rf "$TMPDIR"
printf '%s\n' "$out"
echo "exit status: $rc"
[ "$rc" -ne 0 ] || { echo "FAIL: expected a non-zero exit"; exit 1; }
printf '%s\n' "$out" | grep -Eq -- "$pattern" || { echo "FAIL: no line matches: $pattern"; exit 1; }
