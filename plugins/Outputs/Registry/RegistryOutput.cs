using Occystrap.Abstractions;
using Occystrap.Formats.Compression;
using Occystrap.Registry;

namespace Occystrap.Outputs.Registry;

/// <summary><c>registry://HOST[:PORT]/NAME:TAG</c>: push the image to a Docker/OCI registry.</summary>
[OutputPlugin("registry")]
public sealed class RegistryOutput : IOutputPlugin, IRegistryPlugin
{
    public string Description => "Push an image to a Docker/OCI registry (HTTP API v2)";

    public IReadOnlyList<OptionDescriptor> Options { get; } =
    [
        new("compression", OptionType.String, "Store every layer in this compression, recompressing others: gzip or zstd (default: --compression; with neither, gzip and zstd layers pass as they are and plain ones get gzip)"),
        .. RegistryConnection.CommonOptions,
    ];

    public Task<IImageSink> CreateAsync(PluginInvocation invocation, ImageName source, CancellationToken cancellationToken)
    {
        var chosen = LayerCompressionCodec.ParseChoice(invocation.Options.GetString("compression"), invocation.Output.Compression, "registry");
        int workers = RegistryConnection.Workers(invocation);
        var (client, reference) = RegistryConnection.Open(invocation);
        return Task.FromResult<IImageSink>(new RegistryImageWriter(client, reference, chosen ?? LayerCompression.Gzip, chosen is not null, workers, invocation.Logger, ownsClient: true));
    }
}
