# Which Python makes .venv. Sourced by bin/run, bin/test and bench/lib.sh (bash).
#
#   python_pick    prints the interpreter to make .venv with: $PYTHON when it is set; else, of `python3` on
#                  PATH and the system's /usr/bin/python3 (each 3.11 or newer and able to make a venv), the one
#                  that runs Python code faster here; "" when there is none (the caller says what to install).
#                  PYTHON_PICK_SYSTEM names another "system" interpreter (the tests' fakes).
#   python_venv_create DIR
#                  makes the virtualenv DIR with python_pick's interpreter; returns 1, saying why on stderr,
#                  when there is none or it is older than 3.11.
#
# Why: the same CPython release runs plain Python code up to a quarter faster or slower depending on how it
# was built. A build made without --enable-optimizations (pyenv's default, most source builds: no
# profile-guided optimisation, no link-time optimisation, the interpreter calling a shared libpython) ran the
# pipeline with 8 to 19 % more CPU per reply than Debian's python3.11, which has both, as the python:3.11-slim
# image's has, on the same machine and code (bench/README.md, "Which Python"). Each candidate times the same
# small piece of plain Python (objects, calls, strings, JSON; about 0.1 s, the best of three); the system's
# one is taken only when it is at least 10 % faster, so a machine with one Python, or two alike, keeps
# `python3`. It runs once, when .venv is made.

# The workload each candidate times: prints its CPU seconds (the best of three runs).
_PYTHON_PICK_PROBE='
import json, sys, time
if sys.version_info < (3, 11):
    sys.exit(1)
import ensurepip, venv  # noqa: F401  (Debian: python3-venv)
class Row:
    def __init__(self, pk, text):
        self.pk, self.text = pk, text
    def as_dict(self):
        return {"id": self.pk, "text": self.text.strip().lower(), "words": len(self.text.split())}
def work():
    out = 0
    for i in range(12000):
        row = Row(i, f"  Hola, quiero el producto {i} ")
        out += len(json.dumps(row.as_dict())) + len(sorted({str(i % 97): i, "k": 1}))
    return out
def timed():
    started = time.process_time()
    work()
    return time.process_time() - started
print(f"{min(timed() for _ in range(3)):.6f}")
'

_python_probe() {
  # $1: an interpreter; prints "<cpu seconds> <real path> <version>", or nothing when it cannot serve.
  "$1" -c "$_PYTHON_PICK_PROBE" 2>/dev/null | {
    read -r seconds || exit 0
    "$1" -c 'import os, sys; print(os.path.realpath(sys.executable), "%d.%d.%d" % sys.version_info[:3])' 2>/dev/null |
      { read -r path version && echo "$seconds $path $version"; }
  }
}

python_pick() {
  if [ -n "${PYTHON:-}" ]; then
    echo "$PYTHON"
    return 0
  fi
  local system=${PYTHON_PICK_SYSTEM:-/usr/bin/python3} path_python="" path_probe="" system_probe=""
  path_python=$(command -v python3 || true)
  [ -n "$path_python" ] && path_probe=$(_python_probe "$path_python")
  [ -x "$system" ] && system_probe=$(_python_probe "$system")
  if [ -z "$path_probe" ]; then
    [ -n "$system_probe" ] && { echo "$system"; return 0; }
    echo ""
    return 0
  fi
  if [ -n "$system_probe" ]; then
    local p_secs p_path p_version s_secs s_path s_version
    read -r p_secs p_path p_version <<<"$path_probe"
    read -r s_secs s_path s_version <<<"$system_probe"
    if [ "$s_path" != "$p_path" ] && awk -v s="$s_secs" -v p="$p_secs" 'BEGIN { exit !(s <= 0.9 * p) }'; then
      awk -v s="$s_secs" -v p="$p_secs" -v sy="$system" -v sv="$s_version" -v pv="$p_version" -v pp="$p_path" \
        'BEGIN { printf "· Python: %s (%s): %.0f %% less CPU on a test of plain Python than python3 on PATH (%s, %s)\n", sy, sv, 100 * (1 - s / p), pv, pp }' >&2
      echo "$system"
      return 0
    fi
  fi
  echo "$path_python"
}

python_venv_create() {
  local python
  python=$(python_pick)
  if [ -z "$python" ]; then
    echo "WhatsApp IA needs Python 3.11 or newer, with venv (Debian: apt-get install python3 python3-venv)." >&2
    return 1
  fi
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "WhatsApp IA needs Python 3.11 or newer (found: $("$python" --version 2>&1))." >&2
    return 1
  fi
  echo "· Creating the virtual environment ($1) with $python…"
  "$python" -m venv "$1" || { echo "Could not create $1 (on Debian: apt-get install python3-venv)." >&2; return 1; }
}
