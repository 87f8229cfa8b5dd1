using Occystrap.Abstractions;
using Occystrap.Formats.Compression;
using Occystrap.Formats;
using Occystrap.Formats.Images;
using Occystrap.Formats.Layouts;

namespace Occystrap.Outputs.OciLayout;

/// <summary><c>oci-layout://PATH[?ref=NAME]</c>: add the image to an OCI image layout folder, new or existing.</summary>
[OutputPlugin("oci-layout")]
public sealed class OciLayoutOutput : IOutputPlugin
{
    public string Description => "Add an image to an OCI image layout folder, for skopeo, umoci, buildah or podman";

    public IReadOnlyList<OptionDescriptor> Options { get; } =
    [
        new("ref", OptionType.String, "The image's org.opencontainers.image.ref.name (default: the source's tag, else latest)"),
        new("format", OptionType.String, "keep: the source manifest as it is (its digest kept); oci: Docker media types become OCI ones") { Default = "keep" },
        new("compression", OptionType.String, "Store every layer in this compression, recompressing others: gzip or zstd (default: --compression; with neither, gzip and zstd layers pass as they are and plain ones get gzip)"),
        new("remove_unreferenced", OptionType.Bool, "After adding the image, delete the blobs no image in the layout refers to") { Default = false, Aliases = ["gc"] },
    ];

    public Task<IImageSink> CreateAsync(PluginInvocation invocation, ImageName source, CancellationToken cancellationToken)
    {
        var o = invocation.Options;
        string path = FilePaths.FromUriTarget(invocation.Target, "oci-layout://");
        ManifestFormat? format = o.GetString("format") switch
        {
            "keep" or null => null,
            "oci" => ManifestFormat.Oci,
            var other => throw new UsageException($"output 'oci-layout': format takes keep or oci, not '{other}'"),
        };
        var chosen = LayerCompressionCodec.ParseChoice(o.GetString("compression"), invocation.Output.Compression, "oci-layout");
        string refName = o.GetString("ref") ?? source.Tag ?? "latest";
        return Task.FromResult<IImageSink>(new OciLayoutWriter(path, refName, format, chosen ?? LayerCompression.Gzip, chosen is not null,
            invocation.Output.Parallel, o.GetBool("remove_unreferenced") ?? false, invocation.Logger));
    }
}
