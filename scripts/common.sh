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
