#!/usr/bin/env bash
# Installs everything sockerless needs to build and test, from Debian's packages and,
# for the test clients, from PyPI by name; the client tools the client suites drive (act,
# docker compose v5, gitlab-ci-local, Testcontainers) through scripts/install-clients.sh,
# pinned, from the Go module proxy, npm and PyPI. Idempotent: skips what is already present.
#   scripts/install-deps.sh            build + test dependencies
#   scripts/install-deps.sh --build    build dependencies only (what `make run` needs)
#   scripts/install-deps.sh --bench    also what `make bench` needs (plots)
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
mode=${1:-all}

build_pkgs=(
  cmake ninja-build g++ pkg-config ccache clang-format
  libboost-dev libssl-dev libcurl4-openssl-dev nlohmann-json3-dev libsqlite3-dev
  libarchive-dev libyaml-cpp-dev libcli11-dev libspdlog-dev libfmt-dev
  libacl1-dev libzstd-dev liblz4-dev
  libgtest-dev libgmock-dev
)
test_pkgs=(
  docker.io docker-registry skopeo busybox-static openssl iproute2 procps
  python3 python3-venv python3-pip curl socat apache2-utils docker-compose tmux
  mmdebstrap git rsync
)

bench_pkgs=(python3-matplotlib)

pkgs=("${build_pkgs[@]}")
[ "$mode" = "--build" ] || pkgs+=("${test_pkgs[@]}")
[ "$mode" = "--bench" ] && pkgs+=("${bench_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  # docker.io's maintainer scripts try to start services; there is no init here to do it.
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ "$mode" = "--build" ] && exit 0

# Test clients from PyPI (the latest Docker SDK and pytest) in a project-local venv.
venv="$here/.venv"
if [ ! -x "$venv/bin/pytest" ] || ! "$venv/bin/python" -c 'import docker' 2>/dev/null; then
  echo "install-deps: creating $venv with pytest and the Docker SDK"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q pytest docker requests websocket-client
fi

# The clouds' own clients the simulator suites (tests/sims) judge the simulators with,
# pinned: awscli and boto3 (one botocore between them), and moto's server, which the
# conformance test compares our answers with.
AWS_PY=(awscli==1.46.3 boto3==1.44.18 botocore==1.44.18 "moto[server]==5.2.6")
if [ "$("$venv/bin/python" -c 'import awscli, boto3, moto; print(awscli.__version__, boto3.__version__, moto.__version__)' 2>/dev/null)" != "1.46.3 1.44.18 5.2.6" ]; then
  echo "install-deps: installing ${AWS_PY[*]} into $venv"
  "$venv/bin/pip" install -q "${AWS_PY[@]}"
fi

# The AWS SDKs for Go v2 (pinned in tests/sims/go/go.mod/go.sum, into the Go module cache) and
# for JavaScript v3 (pinned in tests/sims/node/package-lock.json, into .tools/sims-node).
if ! (cd "$here/tests/sims/go" && GOPROXY=off GOFLAGS=-mod=readonly go list -deps -test ./... >/dev/null 2>&1); then
  echo "install-deps: downloading aws-sdk-go-v2 (tests/sims/go/go.mod) into the Go module cache"
  (cd "$here/tests/sims/go" && go mod download)
fi
sims_node="$here/.tools/sims-node"
sims_sum=$(cat "$here/tests/sims/node/package.json" "$here/tests/sims/node/package-lock.json" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$sims_node/.installed" 2>/dev/null)" != "$sims_sum" ]; then
  echo "install-deps: installing @aws-sdk/client-ecs and client-cloudwatch-logs (npm ci) into $sims_node"
  mkdir -p "$sims_node"
  cp -f "$here/tests/sims/node/package.json" "$here/tests/sims/node/package-lock.json" "$sims_node/"
  (cd "$sims_node" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$sims_sum" >"$sims_node/.installed"
fi

# The real client tools of tests/clients (pinned; see scripts/install-clients.sh).
"$here/scripts/install-clients.sh"
