using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Occystrap.Abstractions;
using Occystrap.Formats.Images;

namespace Occystrap.Registry;

/// <summary>An image in a registry: manifest and config fetched up front, layers streamed on demand.</summary>
public sealed class RegistryImage : IImageSource
{
    private const int ConfigLimit = 16 * 1024 * 1024;
    private readonly bool _ownsClient;

    private RegistryImage(RegistryClient client, ImageReference reference, byte[] config, ImageDocument manifest, IReadOnlyList<ISourceLayer> layers, bool ownsClient)
    {
        Client = client;
        Reference = reference;
        Name = reference.ToImageName();
        Config = config;
        Manifest = manifest;
        Layers = layers;
        _ownsClient = ownsClient;
    }

    public RegistryClient Client { get; }
    public ImageReference Reference { get; }
    public ImageName Name { get; }
    public ReadOnlyMemory<byte> Config { get; }
    public ImageDocument Manifest { get; }
    ImageDocument? IImageSource.Manifest => Manifest;
    public ImageDocument? Index { get; private init; }
    public Descriptor? IndexEntry { get; private init; }
    public IReadOnlyList<ISourceLayer> Layers { get; }

    /// <param name="platform">Which image of a multi-platform index (see <see cref="PlatformRule"/>).</param>
    /// <param name="problems">Set by check: a config that disagrees with its descriptor and a layer count that disagrees are reported there, and reading goes on.</param>
    public static async Task<RegistryImage> OpenAsync(RegistryClient client, ImageReference reference, PlatformChoice platform, bool ownsClient, CancellationToken ct, ILogger? log = null, IImageProblems? problems = null)
    {
        log ??= NullLogger.Instance;
        string where = $"{client.Host}/{reference.Repository}:{reference.Reference}";
        var (body, mediaType, digest) = await client.GetManifestAsync(reference.Repository, reference.Reference, ct).ConfigureAwait(false);
        var json = JsonText.ParseObject(body, $"manifest of {where}");
        ImageDocument? index = null;
        Descriptor? entry = null;
        for (int depth = 0; ImageIndex.Is(json, mediaType); depth++)
        {
            if (depth == 4) throw new RegistryException($"{where}: indexes nest too deeply");
            var parsed = ImageIndex.FromJson(json, $"index of {where}", mediaType);
            index = new ImageDocument(new Descriptor(parsed.MediaType, digest, body.Length), body);
            entry = PlatformRule.Choose(parsed.Manifests, platform, where);
            var offered = PlatformRule.Offered(parsed.Manifests);
            if (offered.Count > 1)
                log.LogInformation("{Image} is a multi-platform index ({Count} platforms); using {Platform}", where, offered.Count, entry.Platform?.ToString() ?? "its first entry");
            (body, mediaType, digest) = await client.GetManifestAsync(reference.Repository, entry.Digest.ToString(), ct).ConfigureAwait(false);
            if (body.Length != entry.Size)
                throw new RegistryException($"{where}: manifest {entry.Digest.Short} is {body.Length} bytes, but the index says {entry.Size}");
            json = JsonText.ParseObject(body, $"manifest {entry.Digest.Short} of {where}");
        }
        var manifest = ImageManifest.FromJson(json, $"manifest of {where}", mediaType);
        byte[] config = await client.GetBlobAsync(reference.Repository, manifest.Config.Digest, ConfigLimit, verify: problems is null, ct).ConfigureAwait(false);
        if (problems is not null) DescriptorCheck.Check(config, manifest.Config, $"{where}: the config {manifest.Config.Digest.Short}", problems);
        else if (config.Length != manifest.Config.Size)
            throw new RegistryException($"{where}: the config is {config.Length} bytes, but the manifest says {manifest.Config.Size}");
        var diffIds = ImageConfig.DiffIdsOf(config, $"config of {where}");
        int count = manifest.Layers.Count;
        if (problems is not null) count = DescriptorCheck.LayerCount(manifest.Layers.Count, diffIds.Count, $"{where}: the manifest", problems);
        else if (manifest.Layers.Count != diffIds.Count)
            throw new RegistryException($"{where}: the manifest lists {manifest.Layers.Count} layers but the config has {diffIds.Count} diff_ids");
        var location = new BlobLocation(client.Host, reference.Repository);
        var layers = new List<ISourceLayer>();
        for (int i = 0; i < count; i++)
        {
            var d = manifest.Layers[i];
            var compression = MediaTypeTable.LayerCompressionOf(d.MediaType)
                ?? throw new RegistryException($"{where}: layer {i + 1} has media type '{d.MediaType}', which is not a layer type occystrap can read");
            layers.Add(new RegistryLayer(client, location, i, diffIds[i], d, compression));
        }
        var document = new ImageDocument(new Descriptor(manifest.MediaType, digest, body.Length), body);
        return new RegistryImage(client, reference, config, document, layers, ownsClient) { Index = index, IndexEntry = entry };
    }

    public ValueTask DisposeAsync()
    {
        if (_ownsClient) Client.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>A layer blob in a registry repository.</summary>
public sealed class RegistryLayer(RegistryClient client, BlobLocation location, int index, Digest diffId, Descriptor blob, LayerCompression compression) : ISourceLayer
{
    public int Index => index;
    public Digest DiffId => diffId;
    public Digest? BlobDigest => blob.Digest;
    public long? StoredSize => blob.Size;
    public string? MediaType => blob.MediaType;
    public LayerCompression Compression => compression;
    public BlobLocation? Location => location;

    public Task<Stream> OpenAsync(CancellationToken cancellationToken) => client.OpenBlobAsync(location.Repository, blob.Digest, blob.Size, cancellationToken);
}
