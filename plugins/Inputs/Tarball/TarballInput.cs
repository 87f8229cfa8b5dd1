using Occystrap.Abstractions;
using Occystrap.Formats;
using Occystrap.Formats.Archives;

namespace Occystrap.Inputs.Tarball;

/// <summary><c>tar://PATH</c>: an image from a docker-save archive (legacy, Docker 25+, skopeo) or an OCI archive.</summary>
[InputPlugin("tar")]
public sealed class TarballInput : IInputPlugin
{
    public string Description => "Read an image from a docker-save tarball (or an OCI archive)";

    public IReadOnlyList<OptionDescriptor> Options { get; } =
    [
        new("image", OptionType.String, "Which image of a multi-image archive, as repo:tag (default: the first)"),
    ];

    public Task<IImageSource> OpenAsync(PluginInvocation invocation, CancellationToken cancellationToken)
    {
        string path = FilePaths.FromUriTarget(invocation.Target, "tar://");
        return Task.FromResult<IImageSource>(DockerArchiveImage.Open(path, invocation.Options.GetString("image"), invocation.Platform, invocation.TempDir, cancellationToken, invocation.Logger, invocation.Problems));
    }
}
