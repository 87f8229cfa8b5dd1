using Occystrap.Abstractions;
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
        LayerCompression? chosen = invocation.Options.GetString("compression") switch
        {
            null => invocation.Output.Compression,
            "gzip" => LayerCompression.Gzip,
            "zstd" => LayerCompression.Zstd,
            var other => throw new UsageException($"output 'registry': compression takes gzip or zstd, not '{other}'"),
        };
        if (chosen == LayerCompression.None) throw new UsageException("output 'registry': layers are stored compressed; compression takes gzip or zstd");
        int workers = RegistryConnection.Workers(invocation);
        var (client, reference) = RegistryConnection.Open(invocation);
        return Task.FromResult<IImageSink>(new RegistryImageWriter(client, reference, chosen ?? LayerCompression.Gzip, chosen is not null, workers, invocation.Logger, ownsClient: true));
    }
}
