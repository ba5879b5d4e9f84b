#!/usr/bin/env bash
# Builds the local control-plane binaries used by the cluster tests from the Go
# wrapper modules beside this script (kube/, etcd/, kwok/), once, into
#   ${ANVIL_CLUSTER_CACHE:-$HOME/.cache/anvil-cluster}/<k8s-version>/bin/
# and reuses them while the stamp (a hash of the wrapper modules' go.mod/go.sum,
# the Go version and this script's build recipe version) matches.
#
#   bash test/cluster/build.sh            # build if needed, print the bin dir last
#   ANVIL_CLUSTER_REBUILD=1 bash ...      # force a rebuild
#   ANVIL_CLUSTER_BUILD_P=1 bash ...      # limit build parallelism (memory: ~2 GiB per link)
#
# Needs only Go (>= 1.26) and the Go module proxy; no container images, no downloads
# of release binaries.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RECIPE=2 # bump when the flags below change in a way that needs a rebuild

export GOTOOLCHAIN=local
export GOFLAGS=-buildvcs=false
export CGO_ENABLED=0
# go.sum is complete; only consult the checksum database if the caller asks for it.
export GOSUMDB="${GOSUMDB:-off}"

log() { echo "[anvil-cluster build] $*" >&2; }

command -v go >/dev/null || { log "go not found on PATH"; exit 1; }

mod_version() { # module-dir module-path
  awk -v m="$2" '$1 == m { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "$HERE/$1/go.mod"
}
K8S_VERSION="$(mod_version kube k8s.io/kubernetes)"
ETCD_VERSION="$(mod_version etcd go.etcd.io/etcd/server/v3)"
KWOK_VERSION="$(mod_version kwok sigs.k8s.io/kwok)"
[[ -n "$K8S_VERSION" && -n "$ETCD_VERSION" && -n "$KWOK_VERSION" ]] || {
  log "cannot read versions from $HERE/{kube,etcd,kwok}/go.mod"; exit 1; }

CACHE_ROOT="${ANVIL_CLUSTER_CACHE:-$HOME/.cache/anvil-cluster}"
BIN="$CACHE_ROOT/$K8S_VERSION/bin"
STAMP="$BIN/.stamp"
BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

STAMP_TEXT="$(
  echo "recipe=$RECIPE"
  echo "go=$(go env GOVERSION) $(go env GOOS)/$(go env GOARCH)"
  echo "kubernetes=$K8S_VERSION etcd=$ETCD_VERSION kwok=$KWOK_VERSION"
  echo "modules=$(cd "$HERE" && cat kube/go.mod kube/go.sum etcd/go.mod etcd/go.sum kwok/go.mod kwok/go.sum | sha256sum | cut -d' ' -f1)"
)"

up_to_date() {
  [[ -f "$STAMP" && "$(cat "$STAMP")" == "$STAMP_TEXT" ]] || return 1
  local b
  for b in "${BINARIES[@]}"; do [[ -x "$BIN/$b" ]] || return 1; done
  [[ -f "$BIN/kwok.yaml" ]]
}

mkdir -p "$BIN"
# One build at a time per cache dir (parallel jest runs / CI steps).
exec 9>"$CACHE_ROOT/$K8S_VERSION/.lock"
flock 9

if [[ -z "${ANVIL_CLUSTER_REBUILD:-}" ]] && up_to_date; then
  log "up to date: kubernetes $K8S_VERSION, etcd $ETCD_VERSION, kwok $KWOK_VERSION in $BIN"
  echo "$BIN"
  exit 0
fi

P="${ANVIL_CLUSTER_BUILD_P:-$(nproc 2>/dev/null || echo 2)}"
STAGE="$(mktemp -d "$CACHE_ROOT/$K8S_VERSION/stage.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT
rm -f "$STAMP"
START=$SECONDS
log "building kubernetes $K8S_VERSION, etcd $ETCD_VERSION, kwok $KWOK_VERSION into $BIN (go $(go env GOVERSION), -p $P)"

log "downloading modules"
(cd "$HERE/kube" && go mod download)
(cd "$HERE/etcd" && go mod download)
(cd "$HERE/kwok" && go mod download)

# Version stamp, as hack/lib/version.sh does it, so `kubectl version` shows the server version.
K8S_BUILD_DATE="$(cd "$HERE/kube" && go list -m -f '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' k8s.io/kubernetes)"
K8S_BUILD_DATE="${K8S_BUILD_DATE:-1970-01-01T00:00:00Z}"
MAJOR="${K8S_VERSION#v}"; MAJOR="${MAJOR%%.*}"
MINOR="${K8S_VERSION#v*.}"; MINOR="${MINOR%%.*}"
# The module proxy does not carry the git commit; a fixed all-zero id marks a module build.
GIT_COMMIT=0000000000000000000000000000000000000000
LDFLAGS="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  LDFLAGS+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$MAJOR -X $pkg.gitMinor=$MINOR"
  LDFLAGS+=" -X $pkg.gitCommit=$GIT_COMMIT -X $pkg.gitTreeState=clean -X $pkg.buildDate=$K8S_BUILD_DATE"
done

t=$SECONDS
log "building etcd"
(cd "$HERE/etcd" && go build -p "$P" -trimpath -ldflags "-s -w" -o "$STAGE/etcd" go.etcd.io/etcd/server/v3)
log "etcd built in $((SECONDS - t))s"

t=$SECONDS
log "building kube-apiserver, kube-controller-manager, kube-scheduler"
(cd "$HERE/kube" && go build -p "$P" -trimpath -ldflags "$LDFLAGS" -o "$STAGE/" \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler)
log "kubernetes built in $((SECONDS - t))s"

t=$SECONDS
log "building kwok"
(cd "$HERE/kwok" && go build -p "$P" -trimpath -ldflags "-s -w" -o "$STAGE/kwok" sigs.k8s.io/kwok/cmd/kwok)
log "kwok built in $((SECONDS - t))s"

# kwok loads no stages by itself: ship its own "fast" node/pod stages (what kwokctl uses)
# as a config file next to the binary: nodes become Ready and keep a heartbeat lease,
# bound pods become Ready, deleted pods go away.
KWOK_DIR="$(cd "$HERE/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)"
{
  echo "# kwok $KWOK_VERSION stages from sigs.k8s.io/kwok/kustomize/stage (node/fast, node/heartbeat-with-lease, pod/fast)"
  first=1
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
    pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    [[ $first == 1 ]] || echo "---"
    first=0
    cat "$KWOK_DIR/kustomize/stage/$f"
  done
} >"$STAGE/kwok.yaml"

"$STAGE/kube-apiserver" --version >&2
"$STAGE/etcd" --version | head -1 >&2
for b in "${BINARIES[@]}"; do mv -f "$STAGE/$b" "$BIN/$b"; done
mv -f "$STAGE/kwok.yaml" "$BIN/kwok.yaml"
echo "$STAMP_TEXT" >"$STAMP"
log "done in $((SECONDS - START))s: $BIN"
echo "$BIN"
