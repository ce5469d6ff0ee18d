# Sourced by hack/*.sh: builds pinned tools from the wrapper modules under hack/tools.
# Needs ROOT (the repository root); TOOLS_BIN overrides where the binaries go.
TOOLS=${TOOLS_BIN:-$ROOT/.cache/tools}
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
mkdir -p "$TOOLS"

# tool NAME WRAPPER PACKAGE: build PACKAGE from hack/tools/WRAPPER into $TOOLS/NAME when the
# binary is missing or the wrapper's go.mod/go.sum (the pin) changed since it was built.
tool() {
  local name=$1 wrapper=$2 pkg=$3
  local dir=$ROOT/hack/tools/$wrapper
  local want have=""
  want=$(cat "$dir/go.mod" "$dir/go.sum" | sha256sum | cut -c1-16)
  [ -f "$TOOLS/.stamp-$name" ] && have=$(cat "$TOOLS/.stamp-$name")
  if [ -x "$TOOLS/$name" ] && [ "$want" = "$have" ]; then
    return
  fi
  echo "tools: building $name from hack/tools/$wrapper (once per pin) ..." >&2
  local s=$SECONDS
  (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$TOOLS/$name" "$pkg")
  echo "$want" >"$TOOLS/.stamp-$name"
  echo "tools: built $name in $((SECONDS - s))s" >&2
}
