#!/usr/bin/env bash
# Builds the sample plugin against the Occystrap.Abstractions package in artifacts/packages and
# publishes it as a plugin folder: OUT/Occystrap.Samples.SetOwner/Occystrap.Samples.SetOwner.dll.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=$(mkdir -p "${1:-$root/artifacts/sample-plugins}" && cd "${1:-$root/artifacts/sample-plugins}" && pwd)
# A private package folder, so a rebuilt package of the same version is never served from a stale cache.
pkgs="$root/artifacts/sample-restore"
rm -rf "$pkgs" "$here/bin" "$here/obj"
# nuget.config beside the project adds artifacts/packages to the machine's own package sources.
dotnet restore "$here/Occystrap.Samples.SetOwner.csproj" --packages "$pkgs" --verbosity quiet
dotnet publish "$here/Occystrap.Samples.SetOwner.csproj" -c Release --no-restore --verbosity quiet \
  -p:NuGetPackageRoot="$pkgs/" -o "$out/Occystrap.Samples.SetOwner"
rm -rf "$here/bin" "$here/obj"
