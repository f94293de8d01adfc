#!/usr/bin/env bash
# Installs the real client tools the client suites (tests/clients) drive, pinned, into
# <repo>/.tools (gitignored) and the project's .venv. Idempotent: a tool already present at
# its pinned version is skipped; what is installed is printed. Called by
# scripts/install-deps.sh in its default (test) mode; needs go, npm and .venv (install-deps
# makes the venv before calling this).
#
#   act              v0.2.89  go install github.com/nektos/act            -> .tools/bin/act
#   docker compose   v5.6.0   module github.com/docker/compose/v5, built from the module
#                             (its go.mod has exclude directives, so `go install mod@v`
#                             refuses it)                                  -> .tools/bin/docker-compose
#                             and the docker CLI plugin                    -> .tools/cli-plugins/docker-compose
#   gitlab-ci-local  4.75.1   npm, runs under bun 1.4.5 (npm package `bun`: it needs Node 22's
#                             Set methods, Node 20 lacks them)             -> .tools/node/node_modules
#   testcontainers   12.2.0   npm (Node; its engines field asks Node >= 22.22) -> .tools/node/node_modules
#   testcontainers   4.15.0   PyPI                                         -> .venv
#   testcontainers-go v0.45.0 Go module, pinned in tests/clients/go/go.mod/go.sum (downloaded
#                             into the Go module cache)
# The npm versions are pinned with their whole tree in tests/clients/node/package-lock.json.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
tools="${SOCKERLESS_TOOLS_DIR:-$here/.tools}"   # override only to try an install elsewhere

ACT_VERSION=v0.2.89
COMPOSE_VERSION=v5.6.0
PY_TESTCONTAINERS_VERSION=4.15.0

say() { echo "install-clients: $*"; }
need() {
  command -v "$1" >/dev/null 2>&1 || { echo "install-clients: '$1' not found: $2" >&2; exit 1; }
}

mkdir -p "$tools/bin" "$tools/cli-plugins"
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"

# ---------------------------------------------------------------- act
if [ "$("$tools/bin/act" --version 2>/dev/null)" != "act version ${ACT_VERSION#v}" ]; then
  need go "act and docker compose are built with Go (>= 1.26, the version compose's go.mod asks)"
  say "installing act $ACT_VERSION (go install, ~1.5 min)"
  GOBIN="$tools/bin" go install "github.com/nektos/act@$ACT_VERSION"
fi

# ---------------------------------------------------------------- docker compose v5
compose_ok() {
  [ "$("$tools/bin/docker-compose" version --short 2>/dev/null)" = "${COMPOSE_VERSION#v}" ] &&
    cmp -s "$tools/bin/docker-compose" "$tools/cli-plugins/docker-compose"
}
if ! compose_ok; then
  need go "act and docker compose are built with Go (>= 1.26, the version compose's go.mod asks)"
  say "installing docker compose $COMPOSE_VERSION (built from the module, ~2 min)"
  dir=$(go mod download -json "github.com/docker/compose/v5@$COMPOSE_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$dir" ] || { echo "install-clients: go mod download gave no module directory" >&2; exit 1; }
  # The module cache is read-only; go build writes nothing there.
  (cd "$dir" && CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X github.com/docker/compose/v5/internal.Version=$COMPOSE_VERSION" \
    -o "$tools/bin/docker-compose" ./cmd)
  cp -f "$tools/bin/docker-compose" "$tools/cli-plugins/docker-compose.new"
  mv -f "$tools/cli-plugins/docker-compose.new" "$tools/cli-plugins/docker-compose"
fi

# ---------------------------------------------------------------- npm: gitlab-ci-local, bun, testcontainers
node_src="$here/tests/clients/node"
node_dst="$tools/node"
lock_sum=$(cat "$node_src/package.json" "$node_src/package-lock.json" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$node_dst/.installed" 2>/dev/null)" != "$lock_sum" ] ||
  [ ! -x "$node_dst/node_modules/.bin/bun" ]; then
  need npm "gitlab-ci-local, bun and testcontainers come from the npm registry"
  say "installing gitlab-ci-local, bun and testcontainers from tests/clients/node/package-lock.json (npm ci)"
  mkdir -p "$node_dst"
  cp -f "$node_src/package.json" "$node_src/package-lock.json" "$node_dst/"
  (cd "$node_dst" && npm ci --no-audit --no-fund --loglevel=error)
  "$node_dst/node_modules/.bin/bun" --version >/dev/null
  echo "$lock_sum" >"$node_dst/.installed"
fi

# ---------------------------------------------------------------- Python testcontainers
venv="$here/.venv"
if [ -x "$venv/bin/python" ]; then
  have=$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("testcontainers"))' 2>/dev/null || true)
  if [ "$have" != "$PY_TESTCONTAINERS_VERSION" ]; then
    say "installing testcontainers $PY_TESTCONTAINERS_VERSION (PyPI) into .venv"
    "$venv/bin/pip" install -q "testcontainers==$PY_TESTCONTAINERS_VERSION"
  fi
else
  echo "install-clients: $venv missing (scripts/install-deps.sh makes it); skipping Python testcontainers" >&2
fi

# ---------------------------------------------------------------- testcontainers-go
need go "testcontainers-go is a Go module"
if ! (cd "$here/tests/clients/go" && GOPROXY=off GOFLAGS=-mod=readonly go list -deps -test ./... >/dev/null 2>&1); then
  say "downloading testcontainers-go (tests/clients/go/go.mod) into the Go module cache"
  (cd "$here/tests/clients/go" && go mod download)
fi
