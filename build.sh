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
# The plugins are published precompiled (ReadyToRun) for linux-x64, which halves the start-up time
# that every command pays, and framework-dependent: they run on the host's runtime.
# One publish of the whole solution, so shared projects compile once; each project lands in its own
# bin/Release/net10.0/linux-x64/publish, copied from there.
dotnet publish Occystrap.sln -c Release -r linux-x64 --self-contained false -p:PublishReadyToRun=true --verbosity quiet -nologo
# The host itself is published self-contained, with the .NET runtime and its own libraries compiled
# into one composite ReadyToRun image: code that crosses assemblies (generics of the framework over our
# types, async state machines) is then precompiled too instead of compiled at start-up, and the tool
# needs no .NET runtime installed (decision 0023). Plugins keep running on the host's runtime.
# Its own bin and obj folders keep its intermediate files apart from the framework-dependent build above.
# The image is compiled for x86-64-v3 (AVX2, 2013 on): code that uses 256-bit vectors is then precompiled
# as well. On an older processor the runtime refuses the image and compiles as it goes: the same output,
# a slower start (decision 0024).
dotnet publish src/Host/Host.csproj -c Release -r linux-x64 --self-contained true -p:PublishReadyToRun=true \
  -p:PublishReadyToRunComposite=true -p:PublishReadyToRunCrossgen2ExtraArgs=--instruction-set:x86-64-v3 \
  -p:IntermediateOutputPath=obj/self-contained/ -p:OutputPath=bin/self-contained/ \
  --verbosity quiet -nologo -o "$out"
mkdir -p "$out/plugins"
for proj in plugins/*/*/*.csproj; do
  name=$(basename "$proj" .csproj)
  cp -r "$(dirname "$proj")/bin/Release/net10.0/linux-x64/publish" "$out/plugins/$name"
done

# A test-only plugin that the integration tests load from its own folder.
rm -rf artifacts/test-plugins && mkdir -p artifacts/test-plugins
cp -r tests/Plugins/CredentialProbe/bin/Release/net10.0/linux-x64/publish artifacts/test-plugins/Occystrap.Tests.CredentialProbe

dotnet pack src/Abstractions/Abstractions.csproj -c Release --no-restore --no-build --verbosity quiet -o artifacts/packages
dotnet pack src/Formats/Formats.csproj -c Release --no-restore --no-build --verbosity quiet -o artifacts/packages
dotnet pack src/Registry/Registry.csproj -c Release --no-restore --no-build --verbosity quiet -o artifacts/packages
dotnet pack src/Pipeline/Pipeline.csproj -c Release --no-restore --no-build --verbosity quiet -o artifacts/packages
dotnet pack src/TestKit/TestKit.csproj -c Release --no-restore --no-build --verbosity quiet -o artifacts/packages

# The sample plugin is built the way a third party builds one: against the packages, not the source.
bash samples/SetOwnerFilter/build.sh artifacts/sample-plugins

bash samples/image/make-sample-image.sh artifacts/sample-image.tar

echo "built: $out/occystrap, plugins: $(ls "$out/plugins" | tr '\n' ' ')"
