# Sourced by the preparers: finds hgkd-prepare (the repository's .venv first, then PATH).
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HGKD_PREPARE="$REPO_ROOT/.venv/bin/hgkd-prepare"
[ -x "$HGKD_PREPARE" ] || HGKD_PREPARE="$(command -v hgkd-prepare || true)"
if [ -z "$HGKD_PREPARE" ]; then
    echo "$(basename "$0"): error: hgkd-prepare not found; run 'make install' in $REPO_ROOT first" >&2
    exit 2
fi
