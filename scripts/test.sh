#!/usr/bin/env bash
# The test command (README, CI): set up everything, then ruff, mypy and pytest.
#   scripts/test.sh [pytest args...]
set -o errexit -o pipefail -o nounset
cd "$(dirname "$0")/.."

scripts/setup.sh test,dev

echo "== ruff" >&2
.venv/bin/ruff check daemon tests scripts
echo "== mypy" >&2
.venv/bin/mypy
echo "== import contracts" >&2
.venv/bin/lint-imports --no-cache
echo "== pytest" >&2
set +o errexit
.venv/bin/python -m pytest "$@"
rc=$?
set -o errexit
if [[ $rc -eq 5 ]]; then
  echo "test.sh: pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit $rc
