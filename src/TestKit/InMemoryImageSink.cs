using System.Collections.Concurrent;
using Occystrap.Abstractions;
using Occystrap.Formats.Compression;
using Occystrap.Formats.Images;

namespace Occystrap.TestKit;

/// <summary>
/// A sink that keeps what it is given in memory and records how it was given: which layers, in what
/// order, how many at once, in which compression. It stores blobs like a registry or layout would:
/// compressed layers it stores as they come, plain ones compressed with <see cref="CompressWith"/>
/// (or as plain tars when that is <see cref="LayerCompression.None"/>), and builds the manifest with the
/// toolkit's <see cref="ManifestBuilder"/>.
/// </summary>
public class InMemoryImageSink : IImageSink
{
    private readonly ConcurrentDictionary<Digest, byte[]> _blobs = new();
    private readonly ConcurrentQueue<LayerWrite> _writes = new();
    private int _active;
    private int _maxActive;

    /// <summary>One call of <see cref="WriteLayerAsync"/>: the layer's place, the form it came in, and its bytes.</summary>
    public sealed record LayerWrite(int Index, LayerCompression Compression, Digest DiffId, byte[] Bytes);

    public InMemoryImageSink(LayerDelivery delivery = LayerDelivery.DistinctInParallel, IReadOnlyCollection<LayerCompression>? stored = null,
        LayerCompression compressWith = LayerCompression.Gzip)
    {
        Delivery = delivery;
        StoredCompressions = stored ?? [LayerCompression.Gzip, LayerCompression.Zstd];
        CompressWith = compressWith;
    }

    public LayerDelivery Delivery { get; }
    public IReadOnlyCollection<LayerCompression> StoredCompressions { get; }
    public LayerCompression CompressWith { get; }

    /// <summary>The blobs stored, by digest (layers, config and manifest).</summary>
    public IReadOnlyDictionary<Digest, byte[]> Blobs => _blobs;

    /// <summary>Every call of <see cref="WriteLayerAsync"/>, in the order they finished.</summary>
    public IReadOnlyList<LayerWrite> Writes => _writes.ToList();

    /// <summary>The most layers that were being written at once.</summary>
    public int MaxConcurrentWrites => _maxActive;

    /// <summary>The image as committed, and the manifest stored; null until <see cref="CommitAsync"/>.</summary>
    public ImageResult? Committed { get; private set; }
    public ImageDocument? Manifest { get; private set; }
    public bool Disposed { get; private set; }

    /// <summary>Takes a blob out of the store.</summary>
    protected bool RemoveBlob(Digest blob) => _blobs.TryRemove(blob, out _);

    /// <summary>Puts a blob in the store, as if an earlier run had stored it.</summary>
    public void Seed(byte[] blob) => _blobs[Digest.Compute(blob)] = blob;

    public virtual async Task<StoredLayer> WriteLayerAsync(LayerContent layer, CancellationToken cancellationToken)
    {
        int now = Interlocked.Increment(ref _active);
        int seen;
        while (now > (seen = _maxActive) && Interlocked.CompareExchange(ref _maxActive, now, seen) != seen) { }
        try
        {
            using var buffer = new MemoryStream();
            await Task.Yield();
            if (layer.Compression != LayerCompression.None || CompressWith == LayerCompression.None)
                await layer.Stream.CopyToAsync(buffer, 81920, cancellationToken).ConfigureAwait(false);
            else
                await using (var c = LayerCompressionCodec.OpenCompressor(buffer, CompressWith))
                    await layer.Stream.CopyToAsync(c, 81920, cancellationToken).ConfigureAwait(false);
            byte[] bytes = buffer.ToArray();
            _writes.Enqueue(new LayerWrite(layer.Index, layer.Compression, layer.DiffId, bytes));
            var digest = Digest.Compute(bytes);
            _blobs[digest] = bytes;
            var compression = layer.Compression != LayerCompression.None ? layer.Compression : CompressWith;
            string mediaType = layer.MediaType ?? MediaTypeTable.LayerType(compression, ManifestFormat.Docker);
            return new StoredLayer(new Descriptor(mediaType, digest, bytes.Length));
        }
        finally
        {
            Interlocked.Decrement(ref _active);
        }
    }

    public virtual Task<CommitResult> CommitAsync(ImageResult image, CancellationToken cancellationToken)
    {
        Committed = image;
        var configDigest = Digest.Compute(image.Config.Span);
        _blobs[configDigest] = image.Config.ToArray();
        var layers = image.Layers.Select(l => l.Blob ?? new Descriptor(MediaTypes.DockerLayer, l.DiffId, l.Size ?? 0)).ToList();
        Manifest = ManifestBuilder.Build(image.SourceManifest, ManifestBuilder.FormatFor(image.SourceManifest, layers), image.Config, layers);
        _blobs[Manifest.Descriptor.Digest] = Manifest.Bytes.ToArray();
        return Task.FromResult(new CommitResult(Manifest.Descriptor, configDigest));
    }

    public ValueTask DisposeAsync()
    {
        Disposed = true;
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }
}

/// <summary>
/// An <see cref="InMemoryImageSink"/> with the abilities of a registry: it says which blobs it has, can
/// mount blobs from another location, and lets the layer cache remember its layers.
/// </summary>
public sealed class InMemoryBlobStore(BlobLocation location, IReadOnlyCollection<LayerCompression>? stored = null, LayerCompression compressWith = LayerCompression.Gzip)
    : InMemoryImageSink(LayerDelivery.DistinctInParallel, stored, compressWith), ILayerCacheTarget, IBlobMounting
{
    private readonly ConcurrentDictionary<Digest, BlobLocation> _mountable = new();
    private int _mounts;
    private int _presenceChecks;

    public BlobLocation Location => location;

    public string CacheKey => $"memory compression={CompressWith}";

    public int Mounts => _mounts;

    public int PresenceChecks => _presenceChecks;

    /// <summary>Says a blob can be mounted from <paramref name="from"/> (it lives there).</summary>
    public void AllowMount(byte[] blob, BlobLocation from) => _mountable[Digest.Compute(blob)] = from;

    /// <summary>Forgets a blob, as a registry's garbage collection would.</summary>
    public void Lose(Digest blob) => RemoveBlob(blob);

    public ValueTask<bool> HasBlobAsync(Digest blob, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _presenceChecks);
        return ValueTask.FromResult(Blobs.ContainsKey(blob));
    }

    public ValueTask<bool> MountBlobAsync(Digest blob, BlobLocation from, CancellationToken cancellationToken)
    {
        if (!_mountable.TryGetValue(blob, out var at) || at != from) return ValueTask.FromResult(false);
        Interlocked.Increment(ref _mounts);
        return ValueTask.FromResult(true);
    }
}
