# Shared by scripts/test and scripts/demo: install build dependencies (Debian packages) and build.
# Safe to run repeatedly: packages already present are not reinstalled, builds are incremental.

ENGINE_APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libopenblas-openmp-dev nlohmann-json3-dev libcli11-dev catch2
  libhdf5-dev libsndfile1-dev libsoxr-dev libfftw3-dev
  libtomlplusplus-dev libboost-math-dev libssl-dev ccache
  libopenmpi-dev openmpi-bin
)

ensure_deps() { ensure_packages "${ENGINE_APT_PACKAGES[@]}"; }

# ensure_packages <debian package>...: installs those that are missing.
ensure_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# configure_and_build <build-dir> [cmake args...]
configure_and_build() {
  local dir=$1
  shift
  cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
  ninja -C "$dir" -j "${ENGINE_JOBS:-$(nproc)}"
}

# The sanitizer builds (docs/reliability.md), CPU-only at -O1 with line tables (-g1: readable stacks, a third of
# the compile time of -g). build-asan/: clang with ASan + UBSan and libFuzzer's coverage, so that one build runs
# the CPU test suite and the fuzz targets (scripts/fuzz). build-tsan/: gcc with TSan.
ENGINE_SANITIZER_FLAGS=(-DENGINE_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1")
ENGINE_ASAN_BUILD_ARGS=("${ENGINE_SANITIZER_FLAGS[@]}" -DCMAKE_CXX_COMPILER=clang++ -DENGINE_FUZZ=ON
                        -DENGINE_SANITIZE=address,undefined)
ENGINE_TSAN_BUILD_ARGS=("${ENGINE_SANITIZER_FLAGS[@]}" -DENGINE_SANITIZE=thread)
# clang for build-asan/; libomp-dev: clang's OpenMP runtime.
ENGINE_SANITIZER_PACKAGES=(clang libomp-dev)
