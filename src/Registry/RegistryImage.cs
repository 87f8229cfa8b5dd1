using System.Text.Json;
using System.Text.Json.Nodes;
using Occystrap.Abstractions;
using Occystrap.Formats.Images;

namespace Occystrap.Registry;

/// <summary>An image in a registry: manifest and config fetched up front, layers streamed on demand.</summary>
public sealed class RegistryImage : IImageSource
{
    private readonly bool _ownsClient;

    private RegistryImage(RegistryClient client, ImageReference reference, ImageName name, byte[] config, string mediaType, byte[] manifest, Digest manifestDigest, IReadOnlyList<ISourceLayer> layers, bool ownsClient)
    {
        Client = client;
        Reference = reference;
        Name = name;
        Config = config;
        ManifestMediaType = mediaType;
        Manifest = manifest;
        ManifestDigest = manifestDigest;
        Layers = layers;
        _ownsClient = ownsClient;
    }

    public RegistryClient Client { get; }
    public ImageReference Reference { get; }
    public ImageName Name { get; }
    public ReadOnlyMemory<byte> Config { get; }
    public string? ManifestMediaType { get; }
    public byte[] Manifest { get; }
    public Digest ManifestDigest { get; }
    public IReadOnlyList<ISourceLayer> Layers { get; }

    /// <param name="variant">Null takes any variant (arm64 prefers v8 or none).</param>
    public static async Task<RegistryImage> OpenAsync(RegistryClient client, ImageReference reference, string os, string architecture, string? variant, bool ownsClient, CancellationToken ct)
    {
        string where = $"{client.Host}/{reference.Repository}:{reference.Reference}";
        var (body, mediaType, digest) = await client.GetManifestAsync(reference.Repository, reference.Reference, ct).ConfigureAwait(false);
        var manifest = Parse(body, where);
        for (int depth = 0; MediaTypes.IsIndex(mediaType) || manifest["manifests"] is JsonArray; depth++)
        {
            if (depth == 4) throw new RegistryException($"{where}: indexes nest too deeply");
            var chosen = ChoosePlatform(manifest, os, architecture, variant, where);
            string child = chosen["digest"]?.GetValue<string>() ?? throw new RegistryException($"{where}: an index entry has no digest");
            (body, mediaType, digest) = await client.GetManifestAsync(reference.Repository, child, ct).ConfigureAwait(false);
            manifest = Parse(body, where);
        }
        if (mediaType is not (MediaTypes.DockerManifest or MediaTypes.OciManifest) && manifest["schemaVersion"]?.GetValue<int>() != 2)
            throw new RegistryException($"{where}: unsupported manifest type '{mediaType}'");
        var configDescriptor = manifest["config"] as JsonObject ?? throw new RegistryException($"{where}: the manifest has no config");
        var configDigest = Digest.Parse(configDescriptor["digest"]?.GetValue<string>() ?? "");
        byte[] config = await client.GetBlobAsync(reference.Repository, configDigest, 16 * 1024 * 1024, ct).ConfigureAwait(false);
        var diffIds = ImageConfig.DiffIds(config, $"config of {where}");
        var descriptors = (manifest["layers"] as JsonArray ?? []).OfType<JsonObject>().ToList();
        if (descriptors.Count != diffIds.Count)
            throw new RegistryException($"{where}: the manifest lists {descriptors.Count} layers but the config has {diffIds.Count} diff_ids");
        var layers = new List<ISourceLayer>();
        for (int i = 0; i < descriptors.Count; i++)
        {
            var d = descriptors[i];
            string layerType = d["mediaType"]?.GetValue<string>() ?? MediaTypes.DockerLayerGzip;
            layers.Add(new RegistryLayer(client, reference.Repository, i, diffIds[i], Digest.Parse(d["digest"]?.GetValue<string>() ?? ""),
                d["size"]?.GetValue<long>(), layerType));
        }
        return new RegistryImage(client, reference, reference.ToImageName(), config, mediaType, body, digest, layers, ownsClient);
    }

    private static JsonObject Parse(byte[] body, string where)
    {
        try
        {
            return JsonNode.Parse(body) as JsonObject ?? throw new RegistryException($"{where}: the manifest is not a JSON object");
        }
        catch (JsonException e)
        {
            throw new RegistryException($"{where}: the manifest is not valid JSON: {e.Message}");
        }
    }

    /// <summary>os and architecture must match; a variant is matched when given (arm64 v8 also takes no variant).</summary>
    private static JsonObject ChoosePlatform(JsonObject index, string os, string architecture, string? variant, string where)
    {
        var entries = (index["manifests"] as JsonArray ?? []).OfType<JsonObject>().ToList();
        bool Matches(JsonObject e, bool strictVariant)
        {
            var p = e["platform"] as JsonObject;
            if (p?["os"]?.GetValue<string>() != os || p["architecture"]?.GetValue<string>() != architecture) return false;
            string? v = p["variant"]?.GetValue<string>();
            if (variant is null) return !strictVariant || v is null || (architecture == "arm64" && v == "v8");
            return v == variant || (architecture == "arm64" && variant == "v8" && v is null);
        }
        var found = entries.FirstOrDefault(e => Matches(e, strictVariant: true)) ?? entries.FirstOrDefault(e => Matches(e, strictVariant: false));
        if (found is not null) return found;
        // An index that names no platforms at all (nested indexes, artifacts) gives its first entry.
        if (entries.Count > 0 && entries.All(e => e["platform"] is null)) return entries[0];
        string offered = string.Join(", ", entries.Select(e => e["platform"] is JsonObject p
            ? $"{p["os"]?.GetValue<string>()}/{p["architecture"]?.GetValue<string>()}" + (p["variant"]?.GetValue<string>() is { } v ? "/" + v : "")
            : "(no platform)"));
        throw new RegistryException($"{where} has no image for {os}/{architecture}{(variant is null ? "" : "/" + variant)}; it has: {offered}");
    }

    public ValueTask DisposeAsync()
    {
        if (_ownsClient) Client.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>A layer blob in a registry repository.</summary>
public sealed class RegistryLayer(RegistryClient client, string repository, int index, Digest diffId, Digest blob, long? size, string mediaType) : ISourceLayer
{
    public RegistryClient Client => client;
    public string Repository => repository;
    public int Index => index;
    public Digest DiffId => diffId;
    public Digest? BlobDigest => blob;
    public long? StoredSize => size;
    public string? MediaType => mediaType;

    public LayerCompression Compression => mediaType switch
    {
        _ when mediaType.Contains("zstd", StringComparison.Ordinal) => LayerCompression.Zstd,
        _ when mediaType.Contains("gzip", StringComparison.Ordinal) => LayerCompression.Gzip,
        _ when mediaType.EndsWith(".tar", StringComparison.Ordinal) || mediaType.EndsWith("tar.diff", StringComparison.Ordinal)
            || mediaType == MediaTypes.OciLayer || mediaType == MediaTypes.DockerLayer => LayerCompression.None,
        _ => LayerCompression.Gzip,
    };

    public Task<Stream> OpenAsync(CancellationToken cancellationToken) => client.OpenBlobAsync(repository, blob, size, cancellationToken);
}
