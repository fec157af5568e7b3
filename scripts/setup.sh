#!/usr/bin/env bash
# One idempotent setup for a fresh Debian/Ubuntu machine: Debian packages, uv and the locked
# Python dependencies, npm packages and the Go-built tools. `make setup`, `make up` and
# `make test` all call it; when everything is present it finishes in a few seconds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
STAMPS="$ROOT/.setup"
mkdir -p "$STAMPS" "$ROOT/bin"

UV_VERSION="0.13.9"
# Debian packages: real servers for the local platform and its tests.
# chromium: the browser of the frontend's browser tests (Playwright drives it; nothing downloads one);
# libnss3-tools: certutil, which makes that browser trust the platform's CA.
APT_PACKAGES=(nginx-light prometheus prometheus-alertmanager openssl ca-certificates curl chromium libnss3-tools)

step() { printf '\033[1m==> %s\033[0m\n' "$*"; }
# stamp NAME FILE...: true when the inputs changed since the last successful step NAME.
stamp_changed() {
  local name="$1"; shift
  local sum
  sum="$(cat "$@" 2>/dev/null | sha256sum | cut -d' ' -f1)"
  [[ "$(cat "$STAMPS/$name" 2>/dev/null)" != "$sum" ]]
}
stamp_write() {
  local name="$1"; shift
  cat "$@" 2>/dev/null | sha256sum | cut -d' ' -f1 >"$STAMPS/$name"
}

as_root() { if [[ $EUID -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

install_debian_packages() {
  local missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  step "installing Debian packages: ${missing[*]}"
  as_root apt-get update -q
  # Packages such as nginx and prometheus start a system service on install; the platform runs
  # its own instances on its own ports, so keep the system ones from starting.
  local policy=/usr/sbin/policy-rc.d created=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    as_root chmod +x "$policy"
    created=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  [[ $created -eq 1 ]] && as_root rm -f "$policy"
  return 0
}

install_uv() {
  export PATH="$HOME/.local/bin:$PATH"
  if command -v uv >/dev/null && [[ "$(uv --version | cut -d' ' -f2)" == "$UV_VERSION" ]]; then
    return 0
  fi
  step "installing uv $UV_VERSION"
  python3 -m pip install --quiet --user --break-system-packages "uv==$UV_VERSION" 2>/dev/null ||
    python3 -m pip install --quiet --user "uv==$UV_VERSION"
}

sync_python() {
  if [[ -d .venv ]] && ! stamp_changed python uv.lock pyproject.toml app/backend/pyproject.toml flightdeck/pyproject.toml; then
    return 0
  fi
  step "installing the locked Python dependencies (uv sync)"
  uv sync --locked --all-packages --quiet
  stamp_write python uv.lock pyproject.toml app/backend/pyproject.toml flightdeck/pyproject.toml
}

# bin/flightdeck: the CLI from the locked environment, for any shell (no uv on PATH needed).
link_cli() {
  [[ -L bin/flightdeck ]] || ln -sfn ../.venv/bin/flightdeck bin/flightdeck
}

# The chart's policy scanner (checkov) pins old versions of packages the workspace uses, so it
# lives in its own locked project (charts/tools) with its own virtual environment.
sync_chart_tools() {
  if [[ -d charts/tools/.venv ]] && ! stamp_changed chart-tools charts/tools/uv.lock charts/tools/pyproject.toml; then
    return 0
  fi
  step "installing the chart tools (uv sync in charts/tools)"
  uv sync --locked --project charts/tools --quiet
  stamp_write chart-tools charts/tools/uv.lock charts/tools/pyproject.toml
}

# Go-built tools: every line of tools/binaries.txt is "NAME PACKAGE [MODULE_DIR]", built from the
# module in MODULE_DIR (default tools/; versions pinned in its go.mod and go.sum) into bin/NAME.
# Helm has its own module (tools/helm) because its k8s.io graph conflicts with FerretDB's.
build_go_tools() {
  local inputs=(tools/go.mod tools/go.sum tools/helm/go.mod tools/helm/go.sum tools/binaries.txt)
  mapfile -t sources < <(find tools -name '*.go' | sort)
  local missing=0 name pkg dir
  while read -r name pkg dir; do
    [[ -z "$name" || "$name" == \#* ]] && continue
    [[ -x "bin/$name" ]] || missing=1
  done <tools/binaries.txt
  if [[ $missing -eq 0 ]] && ! stamp_changed go "${inputs[@]}" "${sources[@]}"; then
    return 0
  fi
  command -v go >/dev/null || { echo "setup: Go is required to build the tools in tools/ (https://go.dev/dl/)" >&2; exit 1; }
  # mongo-tools is pinned to a commit that the checksum database does not list; its hash is
  # pinned in tools/go.sum instead.
  export GONOSUMDB="github.com/mongodb/mongo-tools" GOFLAGS="-mod=readonly"
  local mongo_tools_version
  mongo_tools_version="$(cd tools && go list -m -f '{{.Version}}' github.com/mongodb/mongo-tools)"
  # mongo-tools' main packages take their version through -X (unused by the other tools).
  local ldflags="-s -w -X main.VersionStr=${mongo_tools_version} -X main.GitCommit=${mongo_tools_version##*-}"
  # helm prints its version from -X flags too (otherwise `helm version` says only "v3.13").
  local helm_version
  helm_version="$(cd tools/helm && go list -m -f '{{.Version}}' helm.sh/helm/v3)"
  ldflags+=" -X helm.sh/helm/v3/internal/version.version=${helm_version}"
  ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  # ... and its default Kubernetes version (for `helm template` and `helm lint`) as its Makefile
  # does: from the k8s.io/client-go version it is built with (v0.28 -> 1.28).
  local client_go
  client_go="$(cd tools/helm && go list -m -f '{{.Version}}' k8s.io/client-go)"
  client_go="${client_go#v0.}"
  local pkg_var
  for pkg_var in pkg/lint/rules pkg/chartutil; do
    ldflags+=" -X helm.sh/helm/v3/${pkg_var}.k8sVersionMajor=1"
    ldflags+=" -X helm.sh/helm/v3/${pkg_var}.k8sVersionMinor=${client_go%%.*}"
  done
  while read -r name pkg dir; do
    [[ -z "$name" || "$name" == \#* ]] && continue
    dir="${dir:-tools}"
    step "building bin/$name (go build $pkg in $dir)"
    (cd "$dir" && go build -trimpath -ldflags "$ldflags" -o "$ROOT/bin/$name" "$pkg")
  done <tools/binaries.txt
  stamp_write go "${inputs[@]}" "${sources[@]}"
}

# The Kubernetes test control plane (tests/lib/testsupport/kubecluster.py): etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler and kwok, each group from its own
# module under tools/ (versions pinned in its go.mod and go.sum). Building them takes about
# 13 minutes on 2 cores, so they go into a per-machine cache outside the checkout, one directory
# per version and inputs (go.mod, go.sum, flags; not the Go toolchain, whose upgrade does not
# make the static binaries stale); bin/NAME links there. A machine
# that has built a version once never builds it again, whatever the checkout.
CONTROL_PLANE_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/flightdeck/control-plane"
# GROUP MODULE_DIR MAIN_MODULE NAME=PACKAGE...
CONTROL_PLANE=(
  "etcd tools/etcd go.etcd.io/etcd/server/v3 etcd=go.etcd.io/etcd/server/v3"
  "kubernetes tools/kubernetes k8s.io/kubernetes kube-apiserver=k8s.io/kubernetes/cmd/kube-apiserver kube-controller-manager=k8s.io/kubernetes/cmd/kube-controller-manager kube-scheduler=k8s.io/kubernetes/cmd/kube-scheduler"
  "kwok tools/kwok sigs.k8s.io/kwok kwok=sigs.k8s.io/kwok/cmd/kwok"
)

# go_build_with_progress DIR LDFLAGS OUT PACKAGE: go build, printing a line every minute.
go_build_with_progress() {
  local dir="$1" ldflags="$2" out="$3" pkg="$4" started=$SECONDS pid
  (cd "$dir" && go build -trimpath -ldflags "$ldflags" -o "$out" "$pkg") &
  pid=$!
  while ! wait_for "$pid" 60; do
    printf '    still building %s (%dm%02ds)\n' "${out##*/}" $(((SECONDS - started) / 60)) $(((SECONDS - started) % 60))
  done
  wait "$pid"
}
# wait_for PID SECONDS: true once PID has exited, false if it still runs after SECONDS.
wait_for() {
  local i
  for ((i = 0; i < $2; i++)); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 1
  done
  ! kill -0 "$1" 2>/dev/null
}

build_control_plane() {
  command -v go >/dev/null || { echo "setup: Go is required to build the control plane in tools/ (https://go.dev/dl/)" >&2; exit 1; }
  local line group dir module binaries version key cache ldflags name pkg item missing
  export GOFLAGS="-mod=readonly"
  for line in "${CONTROL_PLANE[@]}"; do
    read -r group dir module binaries <<<"$line"
    version="$(cd "$dir" && go list -m -f '{{.Version}}' "$module")"
    ldflags="-s -w"
    if [[ $group == kubernetes ]]; then
      # Without these, /version reports v0.0.0 and clients (helm, kubectl) misjudge the server.
      local minor="${version#v1.}"; minor="${minor%%.*}"
      ldflags+=" -X k8s.io/component-base/version.gitVersion=$version"
      ldflags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
      ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
    fi
    key="$(cat "$dir/go.mod" "$dir/go.sum" <(echo "$ldflags") | sha256sum | cut -c1-12)"
    cache="$CONTROL_PLANE_CACHE/$group-$version-$key"
    missing=0
    for item in $binaries; do [[ -x "$cache/${item%%=*}" ]] || missing=1; done
    if [[ $missing -eq 1 ]]; then
      mkdir -p "$CONTROL_PLANE_CACHE"
      # One build per machine at a time: a second checkout waits, then finds the cache filled.
      exec {lock}>"$cache.lock"
      flock "$lock"
      missing=0
      for item in $binaries; do [[ -x "$cache/${item%%=*}" ]] || missing=1; done
      if [[ $missing -eq 1 ]]; then
        step "building the control plane: $group $version into $cache (once per machine; all of it takes 13-17 min on 2 cores)"
        local started=$SECONDS tmp="$cache.tmp.$$"
        rm -rf "$tmp" && mkdir -p "$tmp"
        for item in $binaries; do
          name="${item%%=*}" pkg="${item#*=}"
          printf '    go build %s\n' "$pkg"
          go_build_with_progress "$dir" "$ldflags" "$tmp/$name" "$pkg"
        done
        rm -rf "$cache" && mv "$tmp" "$cache"
        printf '    built %s in %dm%02ds\n' "$group" $(((SECONDS - started) / 60)) $(((SECONDS - started) % 60))
      fi
      flock -u "$lock"
      exec {lock}>&-
    fi
    for item in $binaries; do
      name="${item%%=*}"
      [[ "$(readlink "bin/$name" 2>/dev/null)" == "$cache/$name" ]] || ln -sfn "$cache/$name" "bin/$name"
    done
  done
  # YAML the tests read from pinned modules: kwok's Stages, and the CRDs of the chart's optional
  # objects (tools/crds). Already in the module cache after the first run, so this is quick.
  (cd tools/kwok && go mod download sigs.k8s.io/kwok)
  local crd_modules
  mapfile -t crd_modules < <(awk '/^require \(/ {r = 1; next} r && /^\)/ {r = 0} r {print $1}' tools/crds/go.mod)
  (cd tools/crds && go mod download "${crd_modules[@]}")
}

# npm packages: every folder with a package-lock.json listed in the loop below gets `npm ci`.
install_npm_packages() {
  local dir
  for dir in tools/node app/frontend; do
    [[ -f "$dir/package-lock.json" ]] || continue
    local key="npm-${dir//\//-}"
    if [[ -d "$dir/node_modules" ]] && ! stamp_changed "$key" "$dir/package-lock.json"; then
      continue
    fi
    command -v npm >/dev/null || { echo "setup: Node.js and npm are required" >&2; exit 1; }
    step "installing npm packages in $dir (npm ci)"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    stamp_write "$key" "$dir/package-lock.json"
  done
}

# The frontend bundle (app/frontend/dist) that `flightdeck up` serves: built again only when its
# sources, build configuration or locked packages changed.
build_frontend() {
  local dir=app/frontend
  [[ -f "$dir/package-lock.json" ]] || return 0
  local inputs=("$dir/package-lock.json" "$dir/index.html" "$dir/vite.config.ts" "$dir/tsconfig.json")
  mapfile -t -O "${#inputs[@]}" inputs < <(find "$dir/src" "$dir/public" -type f | sort)
  if [[ -f "$dir/dist/index.html" ]] && ! stamp_changed frontend "${inputs[@]}"; then
    return 0
  fi
  step "building the frontend (vite build in $dir)"
  (cd "$dir" && npm run --silent build)
  stamp_write frontend "${inputs[@]}"
}

install_debian_packages
install_uv
sync_python
link_cli
sync_chart_tools
build_go_tools
build_control_plane
install_npm_packages
build_frontend
