#!/usr/bin/env bash
# Builds the helm binary used by the Helm chart test (test/package/helm.test.ts) from the Go
# wrapper module beside this script (tool/), once, into
#   ${ANVIL_CLUSTER_CACHE:-$HOME/.cache/anvil-cluster}/helm-<version>/bin/helm
# and reuses it while the stamp (a hash of tool/go.mod + go.sum, the Go version and this
# script's recipe) matches — the same pattern as test/cluster/build.sh.
#
#   bash test/helm/build.sh             # build if needed, print the bin dir last
#   ANVIL_HELM_REBUILD=1 bash ...       # force a rebuild
#   ANVIL_CLUSTER_BUILD_P=1 bash ...    # limit build parallelism
#
# Needs only Go (>= 1.26) and the Go module proxy. Cold: ~5-10 min on 2 cores.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RECIPE=1 # bump when the flags below change in a way that needs a rebuild

export GOTOOLCHAIN=local
export GOFLAGS=-buildvcs=false
export CGO_ENABLED=0
export GOSUMDB="${GOSUMDB:-off}"

log() { echo "[anvil-helm build] $*" >&2; }
command -v go >/dev/null || { log "go not found on PATH"; exit 1; }

VERSION="$(awk '$1 == "require" && $2 == "helm.sh/helm/v4" { print $3; exit }' "$HERE/tool/go.mod")"
[[ -n "$VERSION" ]] || { log "cannot read the helm version from $HERE/tool/go.mod"; exit 1; }

CACHE_ROOT="${ANVIL_CLUSTER_CACHE:-$HOME/.cache/anvil-cluster}"
BIN="$CACHE_ROOT/helm-$VERSION/bin"
STAMP="$BIN/.stamp"
STAMP_TEXT="$(
  echo "recipe=$RECIPE"
  echo "go=$(go env GOVERSION) $(go env GOOS)/$(go env GOARCH)"
  echo "helm=$VERSION"
  echo "modules=$(cd "$HERE/tool" && cat go.mod go.sum | sha256sum | cut -d' ' -f1)"
)"

mkdir -p "$BIN"
exec 9>"$CACHE_ROOT/helm-$VERSION/.lock" # one build at a time per cache dir
flock 9

if [[ -z "${ANVIL_HELM_REBUILD:-}" && -f "$STAMP" && "$(cat "$STAMP")" == "$STAMP_TEXT" && -x "$BIN/helm" ]]; then
  log "up to date: helm $VERSION in $BIN"
  echo "$BIN"
  exit 0
fi

P="${ANVIL_CLUSTER_BUILD_P:-$(nproc 2>/dev/null || echo 2)}"
STAGE="$(mktemp -d "$CACHE_ROOT/helm-$VERSION/stage.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT
rm -f "$STAMP"
START=$SECONDS
log "building helm $VERSION into $BIN (go $(go env GOVERSION), -p $P)"
(cd "$HERE/tool" && go mod download)
# helm's own Makefile stamps its version this way (`helm version` then names it).
LDFLAGS="-s -w -X helm.sh/helm/v4/internal/version.version=$VERSION -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
(cd "$HERE/tool" && go build -p "$P" -trimpath -ldflags "$LDFLAGS" -o "$STAGE/helm" helm.sh/helm/v4/cmd/helm)
"$STAGE/helm" version >&2
mv -f "$STAGE/helm" "$BIN/helm"
echo "$STAMP_TEXT" >"$STAMP"
log "done in $((SECONDS - START))s: $BIN"
echo "$BIN"
