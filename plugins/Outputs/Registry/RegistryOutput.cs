using Occystrap.Abstractions;
using Occystrap.Registry;

namespace Occystrap.Outputs.Registry;

/// <summary><c>registry://HOST[:PORT]/NAME:TAG</c>: push the image to a Docker/OCI registry.</summary>
public sealed class RegistryOutput : IOutputPlugin
{
    public string Name => "registry";

    public string Description => "Push an image to a Docker/OCI registry (HTTP API v2)";

    public IReadOnlyList<OptionDescriptor> Options { get; } =
    [
        new("compression", OptionType.String, "Compression of layers that must be compressed here: gzip or zstd (default: --compression, gzip)"),
        .. RegistryConnection.CommonOptions,
    ];

    public Task<IImageSink> CreateAsync(PluginInvocation invocation, ImageName source, CancellationToken cancellationToken)
    {
        string compressionText = invocation.Options.GetString("compression") ?? invocation.Globals.Compression ?? "gzip";
        var compression = compressionText switch
        {
            "gzip" => LayerCompression.Gzip,
            "zstd" => LayerCompression.Zstd,
            _ => throw new UsageException($"output 'registry': compression takes gzip or zstd, not '{compressionText}'"),
        };
        var (client, reference) = RegistryConnection.Open(invocation);
        int workers = (int)(invocation.Options.GetInt("max_workers") ?? invocation.Globals.Parallel);
        return Task.FromResult<IImageSink>(new RegistryImageWriter(client, reference, compression, workers, invocation.Logger, ownsClient: true));
    }
}
