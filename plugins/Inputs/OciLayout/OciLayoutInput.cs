using Occystrap.Abstractions;
using Occystrap.Formats;
using Occystrap.Formats.Layouts;

namespace Occystrap.Inputs.OciLayout;

/// <summary><c>oci-layout://PATH[?ref=NAME]</c>: an image from an OCI image layout folder (skopeo's <c>oci:</c>, buildah, umoci).</summary>
[InputPlugin("oci-layout")]
public sealed class OciLayoutInput : IInputPlugin
{
    public string Description => "Read an image from an OCI image layout folder (index.json, blobs/)";

    public IReadOnlyList<OptionDescriptor> Options { get; } =
    [
        new("ref", OptionType.String, "Which image, by its org.opencontainers.image.ref.name (default: the only one)"),
    ];

    public Task<IImageSource> OpenAsync(PluginInvocation invocation, CancellationToken cancellationToken)
    {
        string path = FilePaths.FromUriTarget(invocation.Target, "oci-layout://");
        return Task.FromResult<IImageSource>(OciLayoutImage.Open(path, invocation.Options.GetString("ref"), invocation.Platform, invocation.Logger, invocation.Problems));
    }
}
