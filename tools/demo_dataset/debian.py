"""Debian side: data packages via `apt-get download` + `dpkg-deb -x` into a cache (nothing installed), and the
programs the generators run (sox, fluidsynth, espeak-ng, festival) via `apt-get install` when they are missing and
we are root or have password-less sudo. Whatever cannot be had is reported and its sources are skipped.

Cache layout (default ~/.cache/dcls-engine/debian):
  debs/<pkg>_<version>_<arch>.deb        downloaded packages (kept: a warm run never touches the network)
  root/<pkg>_<version>/usr/share/...     their extracted file trees
  rcc/, stems/                           GCompris resource members and rendered stems (see bank.py, render.py)
"""
import concurrent.futures
import fcntl
import glob
import os
import shutil
import subprocess
import sys

_APT_ENV = dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C")


def log(msg):
    print(f"make_demo_dataset: {msg}", file=sys.stderr, flush=True)


def _sudo_prefix():
    """[] when root, ["sudo", "-n"] when password-less sudo works, None otherwise."""
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        return ["sudo", "-n"]
    return None


def _run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, env=_APT_ENV, **kw)


_updated = False


def _apt_update(sudo):
    global _updated
    if _updated:
        return
    _updated = True
    log("apt-get update")
    r = _run(sudo + ["apt-get", "update", "-qq", "-o", "DPkg::Lock::Timeout=300"])
    if r.returncode != 0:
        log(f"apt-get update failed: {r.stderr.strip().splitlines()[-1:]}")


def installed_version(pkg):
    r = _run(["dpkg-query", "-W", "-f=${Status}|${Version}", pkg])
    if r.returncode == 0 and r.stdout.startswith("install ok installed|"):
        return r.stdout.split("|", 1)[1]
    return None


def apt_install(pkgs):
    """apt-get install --no-install-recommends (running apt-get update once if needed); False when not root and
    no password-less sudo, or when apt fails."""
    sudo = _sudo_prefix()
    if sudo is None:
        return False
    log(f"installing {' '.join(pkgs)} (apt-get install --no-install-recommends)")
    cmd = sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=300"] + pkgs
    r = _run(cmd)
    if r.returncode != 0:
        _apt_update(sudo)
        r = _run(cmd)
    if r.returncode != 0:
        log(f"apt-get install failed: {r.stderr.strip()[-300:]}")
    return r.returncode == 0


def ensure_tools(tools, packages_of, allow_install):
    """{tool: "pkg=version ..."} for the tools that are present, installing missing ones when allowed."""
    def missing_pkgs(t):
        return [p for p in packages_of[t] if not installed_version(p)]
    todo = sorted({p for t in tools for p in missing_pkgs(t)})
    if todo and allow_install and not apt_install(todo) and _sudo_prefix() is not None:
        for t in tools:  # one tool at a time, so that one unavailable package does not block the others
            if missing_pkgs(t):
                apt_install(missing_pkgs(t))
    found = {}
    for t in tools:
        if shutil.which(t) and not missing_pkgs(t):
            found[t] = " ".join(f"{p}={installed_version(p)}" for p in packages_of[t])
        else:
            why = "--no-install" if not allow_install else "not root and no password-less sudo" \
                if _sudo_prefix() is None else "apt-get install failed"
            log(f"{t} is missing ({why}): skipping the sources it renders "
                f"(sudo apt-get install {' '.join(packages_of[t])} enables them)")
    return found


def _deb_field(deb, field):
    return subprocess.run(["dpkg-deb", "-f", deb, field], capture_output=True, text=True, check=True).stdout.strip()


class PackageCache:
    def __init__(self, cache_dir):
        self.dir = os.path.abspath(os.path.expanduser(cache_dir))
        for sub in ("debs", "root"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)

    def _cached_deb(self, pkg):
        debs = sorted(glob.glob(os.path.join(self.dir, "debs", glob.escape(pkg) + "_*.deb")))
        return debs[-1] if debs else None

    def _download(self, pkgs):
        """apt-get download into debs/; returns the packages that could not be had."""
        debs = os.path.join(self.dir, "debs")
        cmd = ["apt-get", "download", "-q"]
        if os.geteuid() == 0:
            cmd += ["-o", "APT::Sandbox::User=root"]  # the _apt user may not be able to write to the cache
        r = _run(cmd + pkgs, cwd=debs)
        if r.returncode != 0 and "Unable to locate" in r.stderr:
            sudo = _sudo_prefix()
            if sudo is not None:
                _apt_update(sudo)
        missing = [p for p in pkgs if not self._cached_deb(p)]
        failed = []
        for p in missing:  # one by one, to name the ones that are really unavailable
            r = _run(cmd + [p], cwd=debs)
            if r.returncode != 0 or not self._cached_deb(p):
                why = (r.stderr.strip().splitlines() or ["?"])[-1]
                log(f"{p}: apt-get download failed ({why}); skipping its sources")
                failed.append(p)
        for leftover in glob.glob(os.path.join(debs, "*.deb.*")) + glob.glob(os.path.join(debs, "partial", "*")):
            os.remove(leftover)
        return failed

    def _extract(self, deb, dest):
        tmp = dest + f".tmp{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run(["dpkg-deb", "-x", deb, tmp], check=True)
        os.rename(tmp, dest)

    def fetch(self, pkgs, jobs=2):
        """{pkg: (version, extracted root)} for the packages that could be had, downloading/extracting as needed."""
        with open(os.path.join(self.dir, ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one writer per cache (parallel runs wait here)
            todo = [p for p in pkgs if not self._cached_deb(p)]
            if todo:
                log(f"downloading {len(todo)} package(s): {' '.join(todo)}")
                self._download(todo)
            out, extract = {}, []
            for p in pkgs:
                deb = self._cached_deb(p)
                if not deb:
                    continue
                version = _deb_field(deb, "Version")
                root = os.path.join(self.dir, "root", f"{p}_{version.replace(':', '%3a')}")
                out[p] = (version, root)
                if not os.path.isdir(root):
                    extract.append((deb, root))
            if extract:
                log(f"extracting {len(extract)} package(s)")
                with concurrent.futures.ThreadPoolExecutor(max(1, jobs)) as pool:
                    list(pool.map(lambda a: self._extract(*a), extract))
        return out
