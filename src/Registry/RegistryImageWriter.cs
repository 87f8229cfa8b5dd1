using Microsoft.Extensions.Logging;
using Occystrap.Abstractions;
using Occystrap.Formats.Compression;
using Occystrap.Formats.Images;

namespace Occystrap.Registry;

/// <summary>
/// Pushes one image to a registry. Layers are uploaded in parallel: compressed layers as they are when
/// their compression is one this sink stores, anything else compressed here as it streams. The config
/// goes next and the manifest last, once every blob is there. The manifest is the source's own bytes when
/// nothing changed (so a plain copy keeps its digest), else one in the source's format, or OCI when
/// a layer has no Docker form (zstd).
/// </summary>
public sealed class RegistryImageWriter : IImageSink, ILayerCacheTarget, IBlobMounting
{
    private readonly RegistryClient _client;
    private readonly ImageReference _target;
    private readonly LayerCompression _compression;
    private readonly ILogger _log;
    private readonly bool _ownsClient;

    /// <param name="compression">What layers are compressed with here. When <paramref name="explicitChoice"/>,
    /// every layer is stored in it (recompressed if need be); otherwise gzip and zstd layers pass as they are.</param>
    public RegistryImageWriter(RegistryClient client, ImageReference target, LayerCompression compression, bool explicitChoice, int parallel, ILogger log, bool ownsClient)
    {
        ParallelLayers = parallel;
        if (target.Tag is null) throw new UsageException($"registry output {target} needs a tag to push to");
        if (compression == LayerCompression.None) throw new UsageException($"registry output {target}: layers are stored compressed (gzip or zstd)");
        _client = client;
        _target = target;
        _compression = compression;
        _log = log;
        _ownsClient = ownsClient;
        StoredCompressions = LayerCompressionCodec.StoredAs(compression, explicitChoice);
    }

    public LayerDelivery Delivery => LayerDelivery.DistinctInParallel;

    public int? ParallelLayers { get; }

    public IReadOnlyCollection<LayerCompression> StoredCompressions { get; }

    public BlobLocation Location => new(_client.Host, _target.Repository);

    public string CacheKey => $"registry compression={_compression.ToString().ToLowerInvariant()} stores={string.Join(",", StoredCompressions.Select(c => c.ToString().ToLowerInvariant()))}";

    public async ValueTask<bool> HasBlobAsync(Digest blob, CancellationToken ct) =>
        await _client.BlobExistsAsync(_target.Repository, blob, ct).ConfigureAwait(false);

    /// <summary>Mounts from another repository of the same registry; a blob elsewhere cannot be mounted.</summary>
    public async ValueTask<bool> MountBlobAsync(Digest blob, BlobLocation from, CancellationToken ct)
    {
        if (from.Registry != _client.Host || from.Repository == _target.Repository) return false;
        return await _client.MountBlobAsync(_target.Repository, blob, from.Repository, ct).ConfigureAwait(false);
    }

    public async Task<StoredLayer> WriteLayerAsync(LayerContent layer, CancellationToken ct)
    {
        if (layer.Compression != LayerCompression.None)
        {
            // A compressed blob copied as stored: one monolithic PUT when its digest and size are known. The layer
            // stream fails at its end unless its bytes match the digest, so they are not hashed a second time.
            var (digest, size) = await _client.UploadBlobAsync(_target.Repository,
                (target, token) => layer.Stream.CopyToAsync(target, 1024 * 1024, token), layer.KnownBlobDigest, layer.KnownLength, verifiedBySource: true, ct).ConfigureAwait(false);
            string mediaType = layer.MediaType ?? MediaTypeTable.LayerType(layer.Compression, ManifestFormat.Oci);
            return new StoredLayer(new Descriptor(mediaType, digest, size));
        }
        var compression = _compression;
        var (blob, blobSize) = await _client.UploadBlobAsync(_target.Repository, async (target, token) =>
        {
            await using (var compressor = LayerCompressionCodec.OpenCompressor(target, compression))
                await layer.Stream.CopyToAsync(compressor, 1024 * 1024, token).ConfigureAwait(false);
        }, null, null, ct).ConfigureAwait(false);
        _log.LogDebug("layer {Index}: uploaded {Blob} ({Size} bytes, {Compression}{Engine})", layer.Index + 1, blob.Short, blobSize, compression,
            compression == LayerCompression.Gzip ? ", deflated by " + ParallelGzipStream.Engine : "");
        // Docker's gzip type; the manifest builder puts it into the manifest's format.
        return new StoredLayer(new Descriptor(MediaTypeTable.LayerType(compression, ManifestFormat.Docker), blob, blobSize));
    }

    public async Task<CommitResult> CommitAsync(ImageResult image, CancellationToken ct)
    {
        var layers = image.Layers.Select(l => l.Blob ?? throw new InvalidOperationException($"layer {l.Index + 1} ({l.DiffId}) was never stored")).ToList();
        var format = ManifestBuilder.FormatFor(image.SourceManifest, layers);
        var manifest = ManifestBuilder.Build(image.SourceManifest, format, image.Config, layers);

        var configDigest = Digest.Compute(image.Config.Span);
        if (!await _client.BlobExistsAsync(_target.Repository, configDigest, ct).ConfigureAwait(false))
        {
            byte[] config = image.Config.ToArray();
            await _client.UploadBlobAsync(_target.Repository, (s, t) => s.WriteAsync(config, t).AsTask(), configDigest, config.Length, ct).ConfigureAwait(false);
        }
        var digest = await _client.PutManifestAsync(_target.Repository, _target.Tag!, manifest.Bytes.ToArray(), manifest.Descriptor.MediaType, ct).ConfigureAwait(false);
        _log.LogInformation("pushed {Target} ({Digest})", _target.ToString(), digest.ToString());
        return new CommitResult(manifest.Descriptor, configDigest);
    }

    public ValueTask DisposeAsync()
    {
        if (_ownsClient) _client.Dispose();
        return ValueTask.CompletedTask;
    }
}
