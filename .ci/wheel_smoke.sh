#!/usr/bin/env bash
# Conductor as users install it: build the wheel, install it (not editable) in a fresh venv, and drive
# the installed `conductor` on the simulator from an empty folder. `pip install -e` sees the whole
# checkout, so a file the wheel lacks (a template, the schema) only shows up here.
#   .ci/wheel_smoke.sh            (PYTHON=python3.12 .ci/wheel_smoke.sh for another interpreter)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

fail() {  # show what the last command printed, then stop
  [ -f "$work/out" ] && sed 's/^/  stdout| /' "$work/out" >&2
  [ -f "$work/err" ] && sed 's/^/  stderr| /' "$work/err" >&2
  echo "wheel smoke: $*" >&2; exit 1
}

# A clean copy of the working tree, so a stale build/ or *.egg-info in the checkout cannot leak into the wheel.
mkdir "$work/src"
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  (cd "$root" && git ls-files -z --cached --others --exclude-standard \
    | xargs -0 -I{} sh -c 'test -e "{}" && printf "%s\0" "{}"' | tar --null -T - -cf -) | tar -xf - -C "$work/src"
else  # an unpacked archive: everything but local build products
  tar -C "$root" --exclude=./.venv --exclude=./build --exclude=./dist --exclude='*.egg-info' \
    --exclude=__pycache__ -cf - . | tar -xf - -C "$work/src"
fi
"$python" -m pip wheel -q --no-deps --wheel-dir "$work/dist" "$work/src"
wheel="$(ls "$work"/dist/conductor-*.whl)"
"$python" - "$wheel" <<'PY'
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
need = ["conductor/prompts/orchestrate.md", "conductor/prompts/report.md.j2", "conductor/prompts/state.md.j2",
        "conductor/schemas/report.schema.json", "conductor/py.typed", "conductor/bundled/demo_app.py"]
missing = [n for n in need if n not in names]
assert not missing, f"the wheel lacks {missing}"
PY

"$python" -m venv "$work/venv"
"$work/venv/bin/pip" install -q "$wheel"
export PATH="$work/venv/bin:$PATH"
hash -r
[ "$(command -v conductor)" = "$work/venv/bin/conductor" ] || fail "conductor is not the installed one"
unset ANTHROPIC_API_KEY CONDUCTOR_DEBUG || true

# expect CODE CMD...: run CMD in the current folder, fail unless it exits CODE; stdout kept in $work/out.
expect() {
  local want="$1"; shift
  local got=0
  "$@" >"$work/out" 2>"$work/err" || got=$?
  if [ "$got" != "$want" ]; then
    fail "'$*' exited $got, expected $want"
  fi
  ! grep -q "Traceback\|unexpected error" "$work/err" || fail "'$*' crashed"
}

# expect_piped CODE CMD...: the same through `head -n 2` (a closed pipe must not turn into a crash or another code).
expect_piped() {
  local want="$1"; shift
  set +o pipefail
  "$@" 2>"$work/err" | head -n 2 >"$work/out"
  local got="${PIPESTATUS[0]}"
  set -o pipefail
  [ "$got" = "$want" ] || fail "'$* | head' exited $got, expected $want"
  ! grep -q "Traceback\|unexpected error\|Exception ignored" "$work/err" || fail "'$* | head' crashed"
}

workspace() {  # an empty folder with the README's simulator config
  local dir="$work/$1"
  mkdir -p "$dir/.mothership" && cd "$dir"
  cat > .mothership/config.json <<'JSON'
{
  "orchestration": {
    "strategy": "canary",
    "services": ["api", "web"],
    "healthCheckInterval": 10,
    "rollbackThreshold": {"errorRate": 5, "responseTime": 1000}
  },
  "release": {"api": "v1.1.0", "web": "v1.1.0"}
}
JSON
}

state() { conductor orchestrate --json | "$work/venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["status"])'; }

expect 0 conductor --version
grep -q "^conductor [0-9]" "$work/out" || fail "--version printed $(cat "$work/out")"
expect 0 conductor demo --help
expect 0 conductor orchestrate --help

workspace plain
expect 0 conductor orchestrate
expect 0 conductor orchestrate --json
expect 0 conductor orchestrate canary 10 --dry-run
[ "$(state)" = "idle" ] || fail "--dry-run started an orchestration"
expect 0 conductor orchestrate canary 10
[ "$(state)" = "awaiting_approval" ] || fail "canary 10 did not pause for approval: $(state)"
expect 0 conductor orchestrate
grep -q "Awaiting approval" "$work/out" || fail "status does not show the paused canary"
expect 3 conductor orchestrate rollback
grep -q "^<conductor>ROLLBACK:.*manual</conductor>$" "$work/out" || fail "rollback printed no ROLLBACK signal"
[ "$(state)" = "rolled_back" ] || fail "rollback left the orchestration $(state)"

workspace piped
expect_piped 0 conductor orchestrate
expect_piped 0 conductor orchestrate canary 10
[ "$(state)" = "awaiting_approval" ] || fail "canary 10 | head did not pause for approval: $(state)"
expect_piped 0 conductor orchestrate --json
expect_piped 3 conductor orchestrate rollback
[ "$(state)" = "rolled_back" ] || fail "rollback | head left the orchestration $(state)"
expect_piped 0 conductor demo --help

echo "wheel smoke: ok ($(basename "$wheel"), installed in a fresh venv, run from an empty folder)"
