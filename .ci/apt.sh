# Sourced by the .ci setup scripts: `apt_install [apt-get option…] PKG…` installs Debian packages quietly (the whole
# apt output only when it fails), running `apt-get update` once per script; `die` is the caller's.

APT_UPDATED=0
apt_install() {
  command -v apt-get >/dev/null || die "apt-get not found: install $* by hand"
  local sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  local out
  out=$(mktemp)
  if [ "$APT_UPDATED" = 0 ]; then
    if ! "${sudo[@]}" apt-get update -qq >"$out" 2>&1; then cat "$out" >&2; rm -f "$out"; die "apt-get update failed"; fi
    APT_UPDATED=1
  fi
  if ! DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "$@" >"$out" 2>&1; then
    cat "$out" >&2
    rm -f "$out"
    die "apt-get install $* failed"
  fi
  rm -f "$out"
}
