#!/usr/bin/env bash
# Builds everything a user runs: the host and its built-in plugins (Release, published to
# artifacts/occystrap), the NuGet packages plugin authors reference (artifacts/packages), the sample
# third-party plugin (artifacts/sample-plugins) and the sample image (artifacts/sample-image.tar).
set -euo pipefail
cd "$(dirname "$0")"

out=artifacts/occystrap
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

dotnet restore Occystrap.sln --verbosity quiet
dotnet build Occystrap.sln -c Release --no-restore --verbosity quiet -nologo

rm -rf "$out" artifacts/packages
dotnet publish src/Host/Host.csproj -c Release --no-restore --no-build --verbosity quiet -o "$out"
for proj in plugins/*/*/*.csproj; do
  name=$(basename "$proj" .csproj)
  dotnet publish "$proj" -c Release --no-restore --no-build --verbosity quiet -o "$out/plugins/$name"
done

dotnet pack src/Abstractions/Abstractions.csproj -c Release --no-restore --no-build --verbosity quiet -o artifacts/packages
dotnet pack src/Formats/Formats.csproj -c Release --no-restore --no-build --verbosity quiet -o artifacts/packages
dotnet pack src/Registry/Registry.csproj -c Release --no-restore --no-build --verbosity quiet -o artifacts/packages

# The sample plugin is built the way a third party builds one: against the packages, not the source.
bash samples/SetOwnerFilter/build.sh artifacts/sample-plugins

bash samples/image/make-sample-image.sh artifacts/sample-image.tar

echo "built: $out/occystrap, plugins: $(ls "$out/plugins" | tr '\n' ' ')"
