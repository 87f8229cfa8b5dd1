using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Occystrap.Abstractions;
using Occystrap.Formats.Compression;
using Occystrap.Formats.Images;

namespace Occystrap.Registry;

/// <summary>
/// Pushes one image to a registry: each layer is skipped when the registry has it, mounted when it is in
/// another repository of the same registry, else uploaded (compressed layers as they are; plain or
/// rewritten ones compressed with gzip or zstd as they stream); the config next; the manifest last,
/// once every blob is there. The manifest keeps the source's format (Docker or OCI), except that zstd
/// layers always go out in an OCI manifest.
/// </summary>
public sealed class RegistryImageWriter : IImageSink
{
    private readonly RegistryClient _client;
    private readonly ImageReference _target;
    private readonly LayerCompression _compression;
    private readonly int _parallel;
    private readonly ILogger _log;
    private readonly bool _ownsClient;
    private readonly ConcurrentDictionary<Digest, StoredBlob> _blobs = new();

    private sealed record StoredBlob(Digest Blob, long Size, LayerCompression Compression, string? MediaType);

    public RegistryImageWriter(RegistryClient client, ImageReference target, LayerCompression compression, int parallel, ILogger log, bool ownsClient)
    {
        if (target.Tag is null) throw new UsageException($"registry output {target} needs a tag to push to");
        _client = client;
        _target = target;
        _compression = compression;
        _parallel = parallel;
        _log = log;
        _ownsClient = ownsClient;
    }

    public bool AcceptsCompressedLayers => true;

    public bool StoresBlobs => true;

    public string BlobLocation => $"{_client.Host}/{_target.Repository}";

    public async ValueTask<bool> HasBlobAsync(Digest blob, string? knownAt, CancellationToken ct)
    {
        if (await _client.BlobExistsAsync(_target.Repository, blob, ct).ConfigureAwait(false)) return true;
        string prefix = _client.Host + "/";
        if (knownAt is null || !knownAt.StartsWith(prefix, StringComparison.Ordinal) || knownAt == BlobLocation) return false;
        return await _client.MountBlobAsync(_target.Repository, blob, knownAt[prefix.Length..], ct).ConfigureAwait(false);
    }


    public int MaxParallelLayers => _parallel;

    /// <summary>Blobs found at the destination or mounted instead of uploaded (for summaries and tests).</summary>
    public int Reused => _reused;

    private int _reused;

    public async ValueTask<LayerResult?> TryReuseLayerAsync(ISourceLayer layer, CancellationToken ct)
    {
        if (layer.BlobDigest is not { } blob) return null;
        bool present = await _client.BlobExistsAsync(_target.Repository, blob, ct).ConfigureAwait(false);
        if (!present && layer is RegistryLayer remote && remote.Client.Host == _client.Host && remote.Repository != _target.Repository)
            present = await _client.MountBlobAsync(_target.Repository, blob, remote.Repository, ct).ConfigureAwait(false);
        if (!present) return null;
        Interlocked.Increment(ref _reused);
        long size = layer.StoredSize ?? 0;
        _blobs[layer.DiffId] = new StoredBlob(blob, size, layer.Compression, layer.MediaType);
        return new LayerResult(layer.Index, layer.DiffId, null, blob, size, layer.MediaType);
    }

    public async Task WriteLayerAsync(LayerContent layer, CancellationToken ct)
    {
        if (layer.Compression != LayerCompression.None)
        {
            // A compressed blob copied as stored: one monolithic PUT when its digest and size are known.
            var (digest, size) = await _client.UploadBlobAsync(_target.Repository,
                (target, token) => layer.Stream.CopyToAsync(target, 1024 * 1024, token), layer.KnownBlobDigest, layer.KnownLength, ct).ConfigureAwait(false);
            _blobs[layer.GetResult().DiffId] = new StoredBlob(digest, size, layer.Compression, layer.MediaType);
            layer.SetStoredBlob(digest, size, layer.MediaType ?? LayerMediaType(null, layer.Compression, layer.Compression == LayerCompression.Zstd));
            return;
        }
        var compression = _compression;
        var (blob, blobSize) = await _client.UploadBlobAsync(_target.Repository, async (target, token) =>
        {
            await using (var compressor = LayerCompressionCodec.OpenCompressor(target, compression))
                await layer.Stream.CopyToAsync(compressor, 1024 * 1024, token).ConfigureAwait(false);
        }, null, null, ct).ConfigureAwait(false);
        var result = layer.GetResult();
        _blobs[result.DiffId] = new StoredBlob(blob, blobSize, compression, null);
        layer.SetStoredBlob(blob, blobSize, LayerMediaType(null, compression, compression == LayerCompression.Zstd));
        _log.LogDebug("layer {Index}: uploaded {Blob} ({Size} bytes, {Compression})", layer.Index + 1, blob.Short, blobSize, compression);
    }

    public async Task CommitAsync(ImageResult image, CancellationToken ct)
    {
        var layers = image.Layers.Select(l => _blobs.TryGetValue(l.DiffId, out var b) ? b
            : l.BlobDigest is { } d ? new StoredBlob(d, l.BlobSize ?? 0, CompressionOf(l.BlobMediaType), l.BlobMediaType)
            : throw new InvalidOperationException($"layer {l.Index + 1} ({l.DiffId}) was never uploaded")).ToList();
        bool oci = image.ManifestMediaType == MediaTypes.OciManifest || layers.Any(l => l.Compression == LayerCompression.Zstd);

        byte[] config = image.Config.ToArray();
        var configDigest = Digest.Sha256(Convert.ToHexStringLower(SHA256.HashData(config)));
        if (!await _client.BlobExistsAsync(_target.Repository, configDigest, ct).ConfigureAwait(false))
            await _client.UploadBlobAsync(_target.Repository, (s, t) => s.WriteAsync(config, t).AsTask(), configDigest, config.Length, ct).ConfigureAwait(false);

        var manifest = new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = oci ? MediaTypes.OciManifest : MediaTypes.DockerManifest,
            ["config"] = new JsonObject
            {
                ["mediaType"] = oci ? MediaTypes.OciConfig : MediaTypes.DockerConfig,
                ["digest"] = configDigest.ToString(),
                ["size"] = config.Length,
            },
            ["layers"] = new JsonArray(layers.Select(l => (JsonNode)new JsonObject
            {
                ["mediaType"] = LayerMediaType(l.MediaType, l.Compression, oci),
                ["digest"] = l.Blob.ToString(),
                ["size"] = l.Size,
            }).ToArray()),
        };
        byte[] body = ImageConfig.Serialize(manifest);
        var digest = await _client.PutManifestAsync(_target.Repository, _target.Tag!, body, oci ? MediaTypes.OciManifest : MediaTypes.DockerManifest, ct).ConfigureAwait(false);
        _log.LogInformation("pushed {Target} ({Digest})", _target.ToString(), digest.ToString());
    }

    /// <summary>The layer media type in the manifest's format; a type the source gave is kept when it already fits.</summary>
    private static string LayerMediaType(string? source, LayerCompression compression, bool oci)
    {
        bool sourceIsOci = source?.StartsWith("application/vnd.oci.", StringComparison.Ordinal) == true;
        bool sourceIsDocker = source?.StartsWith("application/vnd.docker.", StringComparison.Ordinal) == true;
        if (source is not null && ((oci && sourceIsOci) || (!oci && sourceIsDocker)) && CompressionOf(source) == compression) return source;
        return (compression, oci) switch
        {
            (LayerCompression.Zstd, _) => MediaTypes.OciLayerZstd,
            (LayerCompression.Gzip, true) => MediaTypes.OciLayerGzip,
            (LayerCompression.Gzip, false) => MediaTypes.DockerLayerGzip,
            (_, true) => MediaTypes.OciLayer,
            _ => MediaTypes.DockerLayer,
        };
    }

    private static LayerCompression CompressionOf(string? mediaType) =>
        mediaType is null ? LayerCompression.Gzip
        : mediaType.Contains("zstd", StringComparison.Ordinal) ? LayerCompression.Zstd
        : mediaType.Contains("gzip", StringComparison.Ordinal) ? LayerCompression.Gzip
        : LayerCompression.None;

    public ValueTask DisposeAsync()
    {
        if (_ownsClient) _client.Dispose();
        return ValueTask.CompletedTask;
    }
}
