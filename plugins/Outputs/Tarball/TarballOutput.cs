using Occystrap.Abstractions;
using Occystrap.Formats;
using Occystrap.Formats.Archives;

namespace Occystrap.Outputs.Tarball;

/// <summary><c>tar://PATH</c>: a docker-loadable (v1.2) archive, written atomically.</summary>
[OutputPlugin("tar")]
public sealed class TarballOutput : IOutputPlugin
{
    public string Description => "Write a docker-save (v1.2) tarball for docker load, podman load or skopeo";

    public IReadOnlyList<OptionDescriptor> Options { get; } =
    [
        new("name", OptionType.String, "The repo:tag to record in the archive (default: the source image's name)"),
    ];

    public Task<IImageSink> CreateAsync(PluginInvocation invocation, ImageName source, CancellationToken cancellationToken)
    {
        string path = FilePaths.FromUriTarget(invocation.Target, "tar://");
        var name = invocation.Options.GetString("name") is { } n ? ImageName.Parse(n) : null;
        return Task.FromResult<IImageSink>(new DockerArchiveWriter(path, name, invocation.TempDir));
    }
}
