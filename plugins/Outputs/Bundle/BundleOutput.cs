using Occystrap.Abstractions;
using Occystrap.Formats;
using Occystrap.Formats.Bundles;

namespace Occystrap.Outputs.Bundle;

/// <summary><c>oci://PATH[?rootless=true]</c>: an OCI runtime bundle (rootfs/ and config.json) that runc runs.</summary>
[OutputPlugin("oci")]
public sealed class BundleOutput : IOutputPlugin
{
    public string Description => "Write an OCI runtime bundle for runc: rootfs/, config.json and container-config.json";

    public IReadOnlyList<OptionDescriptor> Options { get; } =
    [
        new("rootless", OptionType.Bool, "A rootless bundle, as runc spec --rootless gives: a user namespace mapping root to the current user") { Default = false },
    ];

    public Task<IImageSink> CreateAsync(PluginInvocation invocation, ImageName source, CancellationToken cancellationToken)
    {
        string path = FilePaths.FromUriTarget(invocation.Target, "oci://");
        return Task.FromResult<IImageSink>(new RuntimeBundleWriter(path, invocation.Options.GetBool("rootless") ?? false, invocation.Logger));
    }
}
