#!/usr/bin/env bash
# Adds the public symbols that a packed library declares but its PublicAPI.*.txt does not list to
# that project's PublicAPI.Unshipped.txt, so that a deliberate change to the plugin contract can be
# recorded in one step. Removed symbols (RS0017) are reported, not edited: delete them by hand.
# Usage: scripts/update-public-api.sh
set -euo pipefail
cd "$(dirname "$0")/.."
for project in Abstractions Formats Registry Pipeline TestKit; do
  log=$(dotnet build "src/$project" -c Release --no-dependencies 2>&1 || true)
  added=$(grep -oP "error RS0016: Symbol '\K.*(?=' is not part of the declared public API)" <<<"$log" | sort -u || true)
  if [ -n "$added" ]; then
    printf '%s\n' "$added" >> "src/$project/PublicAPI.Unshipped.txt"
    echo "$project: $(wc -l <<<"$added") symbols added to PublicAPI.Unshipped.txt"
    # Build it again, so that the projects after it compile against this one.
    dotnet build "src/$project" -c Release --no-dependencies --verbosity quiet >/dev/null
  fi
  grep -oP "error RS0017: .*" <<<"$log" | sort -u | sed "s/^/$project: /" || true
done
