#!/usr/bin/env bash
# make dist: a goreleaser snapshot of every archive into dist/, then the krew check that a
# release would get from krew-index reviewers:
#   1. validate-krew-manifest (sigs.k8s.io/krew) on the manifest goreleaser generated and on
#      the reviewed template krew/feastflow.yaml rendered against the snapshot archives;
#   2. the sha256 in the manifest is the archive's;
#   3. `kubectl krew install --manifest --archive` of the generated manifest with a real krew
#      into a temporary KREW_ROOT, and `kubectl feastflow version` run through kubectl;
#   4. hack/krew-e2e.sh (make krew-e2e) with dist/ as the first version: the reviewed
#      manifest published in a local krew index, installed, upgraded and uninstalled.
# Tools (goreleaser, syft for the SBOMs, krew) are pinned in hack/tools and built once.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/lib/tools.sh
. "$ROOT/hack/lib/tools.sh"
# shellcheck source=hack/lib/krew.sh
. "$ROOT/hack/lib/krew.sh"
cd "$ROOT"

die() { echo "dist: $*" >&2; exit 1; }
step() { echo "dist: $*" >&2; }

tool goreleaser release github.com/goreleaser/goreleaser/v2
tool syft sbom github.com/anchore/syft/cmd/syft
tool krew krew sigs.k8s.io/krew/cmd/krew
tool validate-krew-manifest krew sigs.k8s.io/krew/cmd/validate-krew-manifest

KUBECTL=${KUBECTL:-$(command -v kubectl || true)}
[ -x "${KUBECTL:-}" ] || KUBECTL=$ROOT/.cache/bin/kubectl
[ -x "$KUBECTL" ] || die "no kubectl on PATH or in .cache/bin (make cluster-bins builds one)"

export FEASTFLOW_COMMIT FEASTFLOW_DATE FEASTFLOW_COMMIT_TIMESTAMP
FEASTFLOW_COMMIT=$(git rev-parse --short HEAD)
FEASTFLOW_DATE=$(git log -1 --format=%cI)
FEASTFLOW_COMMIT_TIMESTAMP=$(git log -1 --format=%ct)

step "goreleaser snapshot into dist/ ..."
# syft must be on PATH for the sboms section.
# A cold build of six targets on 2 cores takes long; goreleaser gives up after 1h by default.
PATH=$TOOLS:$PATH "$TOOLS/goreleaser" release --snapshot --clean --skip=publish --timeout=3h

generated=dist/krew/feastflow.yaml
[ -f "$generated" ] || die "goreleaser wrote no krew manifest at $generated"
version=$(sed -n 's/^  *version: *//p' "$generated" | head -1)
[ -n "$version" ] || die "no spec.version in $generated"
goos=$(go env GOOS) goarch=$(go env GOARCH)
ext=tar.gz; [ "$goos" = windows ] && ext=zip
archive=dist/kubectl-feastflow_${version}_${goos}_${goarch}.$ext
[ -f "$archive" ] || die "no archive $archive for this platform"
step "snapshot $version: $(ls dist/*.tar.gz dist/*.zip | wc -l) archives, checksums, $(ls dist/*.sbom.json 2>/dev/null | wc -l) SBOMs"

# Every archive: the binary, LICENSE and the completion helper, nothing else.
for a in dist/*.tar.gz; do
  got=$(tar -tzf "$a" | LC_ALL=C sort | tr '\n' ' ')
  [ "$got" = "LICENSE kubectl-feastflow kubectl_complete-feastflow " ] || die "$a holds: $got"
done

mkdir -p dist/krew-template
rendered=dist/krew-template/feastflow.yaml
render_manifest krew/feastflow.yaml "$version" dist/checksums.txt >"$rendered" || die "cannot render krew/feastflow.yaml"

for m in "$generated" "$rendered"; do
  step "validate-krew-manifest $m"
  "$TOOLS/validate-krew-manifest" -manifest "$m" -skip-install 2>&1 | sed 's/^/  /' >&2 || die "$m does not validate"
done

# The manifest's sha256 for this platform must be the archive's.
want=$(sha256sum "$archive" | cut -d' ' -f1)
for m in "$generated" "$rendered"; do
  grep -q "sha256: $want" "$m" || die "$m does not carry the sha256 $want of $archive"
done

# install MANIFEST: a real krew install into a fresh KREW_ROOT, then the plugin through kubectl.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
install() {
  local m=$1 tmp
  tmp=$(mktemp -d "$work/krew.XXXX")
  mkdir -p "$tmp/path"
  ln -s "$TOOLS/krew" "$tmp/path/kubectl-krew"
  ln -s "$KUBECTL" "$tmp/path/kubectl"
  export KREW_ROOT=$tmp/krew
  step "kubectl krew install --manifest=$m --archive=$archive (KREW_ROOT=$KREW_ROOT)"
  PATH=$tmp/path:$PATH kubectl krew install --manifest="$m" --archive="$archive" </dev/null 2>&1 | sed 's/^/  /' >&2
  local out
  out=$(PATH=$KREW_ROOT/bin:$tmp/path:/usr/bin:/bin kubectl feastflow version) || die "kubectl feastflow version failed after krew install"
  echo "  kubectl feastflow version: $out" >&2
  [[ $out == *"$version"* ]] || die "installed plugin reports '$out', want version $version"
  # plugin list exits 1 on any warning about other plugins on PATH; its listing is what counts.
  local list
  list=$(PATH=$KREW_ROOT/bin:$tmp/path:/usr/bin:/bin kubectl plugin list 2>&1 || true)
  [[ $list == *"$KREW_ROOT/bin/kubectl-feastflow"* ]] || die "kubectl plugin list does not find the krew-installed plugin: $list"
  [ -x "$KREW_ROOT/store/feastflow/$version/kubectl_complete-feastflow" ] && [ -f "$KREW_ROOT/store/feastflow/$version/LICENSE" ] ||
    die "krew did not install LICENSE and kubectl_complete-feastflow next to the plugin"
  unset KREW_ROOT
}
install "$generated"
step "ok: dist/ holds the archives, checksums.txt, SBOMs and krew manifests that krew validates and installs"

# The reviewed manifest the way users get it: from a krew index, then upgraded and removed.
step "make krew-e2e with dist/ as the first version ..."
hack/krew-e2e.sh dist
