#!/usr/bin/env bash
# Create .venv (if absent) and install apexrl with the given extras, pinned by constraints.txt.
#
#   scripts/bootstrap.sh [EXTRAS]        e.g. scripts/bootstrap.sh dev   or   scripts/bootstrap.sh train,edge
#
# Idempotent: a stamp in .venv records what was installed; when pyproject.toml, constraints.txt and
# the extras are unchanged a second run returns at once. torch is installed FIRST, from the exact
# pin in constraints.txt, whenever an extra needs it, so no later step can pull another (CUDA) torch.
# Environment: APEXRL_PYTHON (interpreter to build the venv with, default python3.11 or python3),
# APEXRL_TORCH_INDEX_URL (e.g. https://download.pytorch.org/whl/cpu on a laptop without a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."

extras="${1:-}"
venv=.venv

pick_python() {
  for candidate in "${APEXRL_PYTHON:-}" python3.11 python3.12 python3.13 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  echo "error: apexrl needs Python >= 3.11; set APEXRL_PYTHON to one" >&2
  return 1
}

if [ ! -x "$venv/bin/python" ]; then
  py=$(pick_python)
  echo "apexrl: creating $venv with $($py --version 2>&1)"
  "$py" -m venv "$venv"
fi

stamp="$venv/.apexrl-installed-${extras:-core}"
want=$(cat pyproject.toml constraints.txt scripts/bootstrap.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

pip=("$venv/bin/python" -m pip install --disable-pip-version-check --quiet -c constraints.txt)
case ",$extras," in
  *,train,* | *,edge,* | *,all,*)
    torch_pin=$(grep -E '^torch==' constraints.txt)
    echo "apexrl: installing $torch_pin first"
    if [ -n "${APEXRL_TORCH_INDEX_URL:-}" ]; then
      "${pip[@]}" --index-url "$APEXRL_TORCH_INDEX_URL" "$torch_pin"
    else
      "${pip[@]}" "$torch_pin"
    fi
    ;;
esac
target="."
[ -n "$extras" ] && target=".[$extras]"
echo "apexrl: installing apexrl${extras:+[$extras]} into $venv (first run takes a few minutes)"
"${pip[@]}" -e "$target"
echo "$want" >"$stamp"
