#!/usr/bin/env bash
# The test command: installs what the tests need that is missing (apt-get), builds everything with
# ./build.sh, starts a private dockerd and podman on sockets under /tmp (loopback only), runs the
# unit and integration tests, and stops what it started, also when something fails.
set -euo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

bash scripts/infra/install.sh tools docker podman registry
./build.sh

cleanup() {
  bash scripts/infra/podman.sh stop || true
  bash scripts/infra/dockerd.sh stop || true
}
trap cleanup EXIT
bash scripts/infra/dockerd.sh start
bash scripts/infra/podman.sh start
set -a
# shellcheck disable=SC1090
source <(bash scripts/infra/dockerd.sh env)
# shellcheck disable=SC1090
source <(bash scripts/infra/podman.sh env)
set +a

log=$(mktemp)
status=0
for project in tests/UnitTests tests/IntegrationTests; do
  dotnet test "$project" -c Release --no-build 2>&1 | tee -a "$log" || status=1
done
passed=$(grep -oE 'Passed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
failed=$(grep -oE 'Failed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
rm -f "$log"
echo "tests: $passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
