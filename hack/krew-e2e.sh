#!/usr/bin/env bash
# make krew-e2e: install, upgrade and uninstall kubectl feastflow exactly as a user does, from
# a krew index, with a real krew (v0.4.3, pinned in hack/tools/krew) and the real kubectl:
#
#   1. two snapshot versions built by goreleaser (v1 may be given: `make dist` passes dist/);
#   2. their archives served over HTTP from 127.0.0.1 under the path a GitHub release has
#      (releases/download/TAG/ARCHIVE). krew downloads a manifest's uri with Go's net/http,
#      so http:// and https:// are the schemes it accepts (no file://), and it checks the
#      sha256 of what it downloaded whatever the scheme: step 6 proves that check is on;
#   3. a local git repository laid out like krew-index (plugins/feastflow.yaml), holding
#      krew/feastflow.yaml rendered as krew-release-bot would, checked by krew's
#      validate-krew-manifest with installation of every platform (what krew-index CI runs);
#   4. in a fresh KREW_ROOT: `kubectl krew index add`, `kubectl krew install INDEX/feastflow`,
#      `kubectl feastflow version` and `kubectl plugin list` through kubectl;
#   5. v2 committed to the index, `kubectl krew upgrade feastflow`: the version changes and
#      v1's files are gone;
#   6. a v3 whose archive was altered after its sha256 was taken: the upgrade fails and v2
#      stays installed;
#   7. `kubectl krew uninstall feastflow` leaves KREW_ROOT as it was before the install.
#
# usage: hack/krew-e2e.sh [DIST]   DIST: a goreleaser snapshot directory to publish as v1.
# KREW_E2E_TARGETS=host builds only this machine's platform (fast: one link per version
# instead of six, with a warm Go build cache); the default, all, builds every platform.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=hack/lib/tools.sh
. "$ROOT/hack/lib/tools.sh"
# shellcheck source=hack/lib/krew.sh
. "$ROOT/hack/lib/krew.sh"
cd "$ROOT"

die() { echo "krew-e2e: FAIL: $*" >&2; exit 1; }
step() { echo "krew-e2e: $*" >&2; }

tool goreleaser release github.com/goreleaser/goreleaser/v2
tool krew krew sigs.k8s.io/krew/cmd/krew
tool validate-krew-manifest krew sigs.k8s.io/krew/cmd/validate-krew-manifest

KUBECTL=${KUBECTL:-$(command -v kubectl || true)}
[ -x "${KUBECTL:-}" ] || KUBECTL=$ROOT/.cache/bin/kubectl
[ -x "$KUBECTL" ] || die "no kubectl on PATH or in .cache/bin (make cluster-bins builds one)"

targets=${KREW_E2E_TARGETS:-all}
case $targets in all | host) ;; *) die "KREW_E2E_TARGETS=$targets: use all or host" ;; esac
goos=$(go env GOOS) goarch=$(go env GOARCH)
ext=tar.gz
[ "$goos" = windows ] && ext=zip

work=$(mktemp -d "${TMPDIR:-/tmp}/feastflow-krew-e2e.XXXXXX")
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

export FEASTFLOW_COMMIT FEASTFLOW_DATE FEASTFLOW_COMMIT_TIMESTAMP
FEASTFLOW_COMMIT=$(git rev-parse --short HEAD)
FEASTFLOW_DATE=$(git log -1 --format=%cI)
FEASTFLOW_COMMIT_TIMESTAMP=$(git log -1 --format=%ct)

# snapshot VERSION DIR: a goreleaser snapshot of VERSION (without the v) into DIR, for the
# platforms KREW_E2E_TARGETS asks for. SBOMs are left to make dist.
snapshot() {
  local version=$1 dir=$2 cfg=$work/goreleaser-$1.yaml s=$SECONDS
  cp .goreleaser.yaml "$cfg"
  if [ "$targets" = host ]; then
    sed -i -e "s/^    goos: \[linux, darwin, windows\]\$/    goos: [$goos]/" \
      -e "s/^    goarch: \[amd64, arm64\]\$/    goarch: [$goarch]/" "$cfg"
    grep -q "^    goos: \[$goos\]\$" "$cfg" && grep -q "^    goarch: \[$goarch\]\$" "$cfg" ||
      die ".goreleaser.yaml no longer has the goos/goarch lines this script narrows to $goos/$goarch"
  fi
  printf '\ndist: %s\n' "$dir" >>"$cfg"
  step "goreleaser snapshot v$version ($targets platforms) ..."
  if ! FEASTFLOW_SNAPSHOT_VERSION=$version "$TOOLS/goreleaser" release --snapshot --clean --skip=sbom \
    --config "$cfg" --timeout=3h >"$work/goreleaser-$version.log" 2>&1; then
    tail -30 "$work/goreleaser-$version.log" >&2
    die "goreleaser snapshot v$version failed"
  fi
  step "  built in $((SECONDS - s))s: $(cd "$dir" && ls -- *.tar.gz *.zip 2>/dev/null | tr '\n' ' ')"
}

# snapshot_version DIR: the version (with the v) of the goreleaser snapshot in DIR.
snapshot_version() {
  local v
  v=$(sed -n 's/^  *version: *//p' "$1/krew/feastflow.yaml" | head -1)
  [ -n "$v" ] || die "no spec.version in $1/krew/feastflow.yaml"
  echo "$v"
}

# 1. Two versions.
if [ $# -ge 1 ]; then
  dist1=$(cd "$1" && pwd)
  v1=$(snapshot_version "$dist1")
  step "v1 is the snapshot in $1: $v1"
else
  dist1=$work/dist-1
  snapshot 0.0.1-e2e.1 "$dist1"
  v1=$(snapshot_version "$dist1")
fi
[[ $v1 == v*-* ]] || die "v1 $v1 is not a snapshot (pre-release) version"
v2=$v1.2
dist2=$work/dist-2
snapshot "${v2#v}" "$dist2"
[ "$(snapshot_version "$dist2")" = "$v2" ] || die "the second snapshot is $(snapshot_version "$dist2"), want $v2"

# 2. The download site: archives under releases/download/TAG/, as on GitHub.
www=$work/www
publish_archives() { # DIST TAG
  mkdir -p "$www/releases/download/$2"
  find "$1" -maxdepth 1 \( -name '*.tar.gz' -o -name '*.zip' \) -exec cp {} "$www/releases/download/$2/" \;
}
go build -o "$work/fileserver" ./hack/fileserver
mkdir -p "$www"
"$work/fileserver" -dir "$www" -url-file "$work/url" 2>"$work/fileserver.log" &
server_pid=$!
for _ in $(seq 100); do
  [ -s "$work/url" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/fileserver.log" >&2; die "the file server did not start"; }
  sleep 0.1
done
[ -s "$work/url" ] || die "the file server wrote no URL"
base=$(cat "$work/url")
step "archives served from $base/releases/download/"

# 3. The index: a git repository laid out like krew-index.
index=$work/krew-index
git init -q -b main "$index"
mkdir -p "$index/plugins"
drop=0
[ "$targets" = host ] && drop=1
# publish_manifest TAG CHECKSUMS: render krew/feastflow.yaml for TAG into the index, check it
# as krew-index CI does (install of every platform from the served URIs), commit it.
publish_manifest() {
  local m=$index/plugins/feastflow.yaml
  render_manifest krew/feastflow.yaml "$1" "$2" "$base" "$drop" >"$m" || die "cannot render krew/feastflow.yaml for $1"
  grep -q "uri: $base/releases/download/$1/kubectl-feastflow_$1_${goos}_$goarch.$ext" "$m" ||
    die "the manifest for $1 has no archive for $goos/$goarch"
  if [ "${3:-validate}" = validate ]; then
    step "validate-krew-manifest $1 (installs every platform from $base)"
    PATH=$work/path:$PATH "$TOOLS/validate-krew-manifest" -manifest "$m" >"$work/validate-$1.log" 2>&1 ||
      { cat "$work/validate-$1.log" >&2; die "krew's validate-krew-manifest rejects the manifest for $1"; }
  fi
  git -C "$index" add plugins/feastflow.yaml
  git -C "$index" -c user.name=krew-e2e -c user.email=krew-e2e@localhost commit -q -m "feastflow $1"
}

# A user's PATH: kubectl and kubectl-krew, then krew's bin directory, then the system's.
mkdir -p "$work/path"
ln -s "$TOOLS/krew" "$work/path/kubectl-krew"
ln -s "$KUBECTL" "$work/path/kubectl"
export KREW_ROOT=$work/krew-root KREW_NO_UPGRADE_CHECK=1
export HOME=$work/home # kubectl plugin list and krew must not see the caller's plugins
mkdir -p "$HOME"
userpath=$KREW_ROOT/bin:$work/path:/usr/bin:/bin
as_user() { PATH=$userpath "$@"; }

publish_archives "$dist1" "$v1"
publish_manifest "$v1" "$dist1/checksums.txt"

# 4. Install from the index.
step "kubectl krew index add feastflow $index"
as_user kubectl krew index add feastflow "$index" 2>&1 | sed 's/^/  /' >&2
[ "${PIPESTATUS[0]}" = 0 ] || die "kubectl krew index add failed"
find "$KREW_ROOT" -path "$KREW_ROOT/index" -prune -o -print | LC_ALL=C sort >"$work/before-install"

before=$(wc -l <"$work/fileserver.log")
step "kubectl krew install feastflow/feastflow"
as_user kubectl krew install feastflow/feastflow </dev/null >"$work/install.log" 2>&1 ||
  { cat "$work/install.log" >&2; die "kubectl krew install feastflow/feastflow failed"; }
sed 's/^/  /' "$work/install.log" >&2
archive1=kubectl-feastflow_${v1}_${goos}_$goarch.$ext
tail -n +"$((before + 1))" "$work/fileserver.log" | grep -q "GET /releases/download/$v1/$archive1 200" ||
  die "krew did not download $archive1 from $base: $(cat "$work/fileserver.log")"

# check_installed VERSION: the plugin runs through kubectl and reports VERSION, kubectl plugin
# list finds it in krew's bin, and krew's store holds exactly that version with its files.
check_installed() {
  local out list
  out=$(as_user kubectl feastflow version) || die "kubectl feastflow version failed"
  step "  kubectl feastflow version: $out"
  [[ $out == "kubectl-feastflow $1 "* ]] || die "installed plugin reports '$out', want $1"
  # plugin list exits 1 on any warning about other plugins on PATH; its listing is what counts.
  list=$(as_user kubectl plugin list 2>&1 || true)
  [[ $list == *"$KREW_ROOT/bin/kubectl-feastflow"* ]] || die "kubectl plugin list does not find the krew-installed plugin: $list"
  [ "$(ls "$KREW_ROOT/store/feastflow")" = "$1" ] || die "krew's store holds $(ls "$KREW_ROOT/store/feastflow" | tr '\n' ' '), want only $1"
  [ -x "$KREW_ROOT/store/feastflow/$1/kubectl_complete-feastflow" ] && [ -f "$KREW_ROOT/store/feastflow/$1/LICENSE" ] ||
    die "krew did not install LICENSE and kubectl_complete-feastflow next to the plugin"
  grep -q "^  version: $1\$" "$KREW_ROOT/receipts/feastflow.yaml" || die "krew's receipt does not record $1"
  grep -q "name: feastflow\$" <(sed -n '/^status:/,$p' "$KREW_ROOT/receipts/feastflow.yaml") ||
    die "krew's receipt does not record the index feastflow"
}
check_installed "$v1"

# 5. Upgrade to v2 through the index.
publish_archives "$dist2" "$v2"
publish_manifest "$v2" "$dist2/checksums.txt"
before=$(wc -l <"$work/fileserver.log")
step "kubectl krew upgrade feastflow ($v1 -> $v2)"
as_user kubectl krew upgrade feastflow </dev/null >"$work/upgrade.log" 2>&1 ||
  { cat "$work/upgrade.log" >&2; die "kubectl krew upgrade feastflow failed"; }
sed 's/^/  /' "$work/upgrade.log" >&2
grep -q "Upgraded plugin: feastflow/feastflow" "$work/upgrade.log" || die "krew upgrade did not say it upgraded feastflow/feastflow"
tail -n +"$((before + 1))" "$work/fileserver.log" | grep -q "GET /releases/download/$v2/kubectl-feastflow_${v2}_${goos}_$goarch.$ext 200" ||
  die "krew did not download the $v2 archive from $base"
check_installed "$v2"

# 6. A v3 whose archive changed after its sha256 was taken (a compromised download site):
# krew must refuse it and keep v2.
v3=$v1.3
archive2=$www/releases/download/$v2/kubectl-feastflow_${v2}_${goos}_$goarch.$ext
mkdir -p "$www/releases/download/$v3"
printf 'kubectl-feastflow_%s_%s_%s.%s\n' "$v3" "$goos" "$goarch" "$ext" |
  awk -v s="$(sha256sum "$archive2" | cut -d' ' -f1)" '{ print s "  " $0 }' >"$work/checksums-3.txt"
{ cat "$archive2"; printf 'tampered'; } >"$www/releases/download/$v3/kubectl-feastflow_${v3}_${goos}_$goarch.$ext"
drop=1
publish_manifest "$v3" "$work/checksums-3.txt" novalidate
step "kubectl krew upgrade feastflow ($v2 -> $v3 whose archive does not match its sha256)"
if as_user kubectl krew upgrade feastflow </dev/null >"$work/upgrade-3.log" 2>&1; then
  cat "$work/upgrade-3.log" >&2
  die "krew upgraded to an archive whose sha256 does not match the manifest"
fi
sed 's/^/  /' "$work/upgrade-3.log" >&2
grep -q "checksum does not match" "$work/upgrade-3.log" || die "krew's upgrade failed, but not on the checksum"
check_installed "$v2"

# 7. Uninstall: KREW_ROOT is as it was before the install.
step "kubectl krew uninstall feastflow"
as_user kubectl krew uninstall feastflow </dev/null 2>&1 | sed 's/^/  /' >&2
[ "${PIPESTATUS[0]}" = 0 ] || die "kubectl krew uninstall feastflow failed"
find "$KREW_ROOT" -path "$KREW_ROOT/index" -prune -o -print | LC_ALL=C sort >"$work/after-uninstall"
diff -u "$work/before-install" "$work/after-uninstall" >&2 || die "kubectl krew uninstall left files behind (diff above)"
if as_user kubectl feastflow version >/dev/null 2>&1; then die "kubectl feastflow still runs after uninstall"; fi
list=$(as_user kubectl plugin list 2>&1 || true)
[[ $list != *kubectl-feastflow* ]] || die "kubectl plugin list still lists kubectl-feastflow: $list"
step "ok: installed $v1 from a krew index, upgraded to $v2, refused a tampered $v3, uninstalled without a trace"
