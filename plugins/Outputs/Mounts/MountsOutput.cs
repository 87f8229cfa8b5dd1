using Occystrap.Abstractions;
using Occystrap.Formats;
using Occystrap.Formats.Bundles;

namespace Occystrap.Outputs.Mounts;

/// <summary><c>mounts://PATH[?mount=true]</c>: each layer extracted for overlayfs, with a bundle whose rootfs is their overlay mount.</summary>
[OutputPlugin("mounts")]
public sealed class MountsOutput : IOutputPlugin
{
    public string Description => "Write an overlayfs layout: each layer extracted on its own, mount.sh, and a runtime bundle over the mount (needs root)";

    public IReadOnlyList<OptionDescriptor> Options { get; } =
    [
        new("mount", OptionType.Bool, "Mount rootfs/ with overlayfs once the layout is written") { Default = false },
    ];

    public Task<IImageSink> CreateAsync(PluginInvocation invocation, ImageName source, CancellationToken cancellationToken)
    {
        string path = FilePaths.FromUriTarget(invocation.Target, "mounts://");
        return Task.FromResult<IImageSink>(new OverlayLayoutWriter(path, invocation.Options.GetBool("mount") ?? false, invocation.Output.Parallel, invocation.Logger));
    }
}
