namespace Occystrap.Abstractions;

/// <summary>
/// Where one image is written. The host calls <see cref="WriteLayerAsync"/> for each distinct layer,
/// then <see cref="CommitAsync"/> with the final config. Disposing without a commit must remove
/// anything partial.
/// </summary>
public interface IImageSink : IAsyncDisposable
{
    /// <summary>
    /// True when the sink can store a layer compressed exactly as the source stored it; the host then
    /// copies untouched layers without decompressing them.
    /// </summary>
    bool AcceptsCompressedLayers { get; }

    /// <summary>True for a store of content-addressed blobs (a registry), which <see cref="HasBlobAsync"/> can ask.</summary>
    bool StoresBlobs => false;

    /// <summary>
    /// Whether the destination has this blob, or has linked it now from <paramref name="knownAt"/> (where it was
    /// last stored, as <see cref="BlobLocation"/> said then). Used to trust a layer cache entry before skipping a layer.
    /// </summary>
    ValueTask<bool> HasBlobAsync(Digest blob, string? knownAt, CancellationToken cancellationToken) => ValueTask.FromResult(false);

    /// <summary>Where this sink stores blobs (e.g. <c>host/repository</c>), recorded in the layer cache.</summary>
    string? BlobLocation => null;

    /// <summary>How many layers the sink takes at once (a registry uploads in parallel; an archive is one file).</summary>
    int MaxParallelLayers => 1;

    /// <summary>
    /// For a layer no filter touches: when the destination already has it (a registry that has the blob,
    /// or can mount it from another repository), returns what it has and the layer is not read at all.
    /// </summary>
    ValueTask<LayerResult?> TryReuseLayerAsync(ISourceLayer layer, CancellationToken cancellationToken) => ValueTask.FromResult<LayerResult?>(null);

    /// <summary>
    /// Consumes <see cref="LayerContent.Stream"/> to its end. May be called concurrently for different
    /// layers when <see cref="MaxParallelLayers"/> is above 1, and more than once for the same content
    /// (a layer listed twice that a filter rewrote).
    /// </summary>
    Task WriteLayerAsync(LayerContent layer, CancellationToken cancellationToken);

    /// <summary>Writes the config and whatever names the layers (manifest), then makes the output visible.</summary>
    /// <param name="image">Layers in image order; a layer may appear more than once.</param>
    Task CommitAsync(ImageResult image, CancellationToken cancellationToken);
}

/// <summary>One layer handed to a sink.</summary>
public sealed class LayerContent
{
    private readonly Func<LayerResult> _result;

    public LayerContent(int index, Stream stream, LayerCompression compression, string? mediaType, Digest? knownDiffId, long? knownLength, Func<LayerResult> result, Digest? knownBlobDigest = null)
    {
        KnownBlobDigest = knownBlobDigest;
        Index = index;
        Stream = stream;
        Compression = compression;
        MediaType = mediaType;
        KnownDiffId = knownDiffId;
        KnownLength = knownLength;
        _result = result;
    }

    /// <summary>Position of the layer in the image.</summary>
    public int Index { get; }

    /// <summary>The bytes to store. Verified against their digest as they are read: a mismatch throws from Read.</summary>
    public Stream Stream { get; }

    public LayerCompression Compression { get; }

    /// <summary>The media type of the stored form, when the stream is the source's compressed blob.</summary>
    public string? MediaType { get; }

    /// <summary>The diff_id when known before reading (no filter changed the layer).</summary>
    public Digest? KnownDiffId { get; }

    /// <summary>The digest of the stream's bytes when known before reading (a compressed blob copied as stored).</summary>
    public Digest? KnownBlobDigest { get; }

    /// <summary>The stream's length when known before reading.</summary>
    public long? KnownLength { get; }

    /// <summary>The digests of what was read, plus the blob the sink stored, if it said; valid once <see cref="Stream"/> was read to its end.</summary>
    public LayerResult GetResult() => _stored is { } s ? _result() with { BlobDigest = s.Digest, BlobSize = s.Size, BlobMediaType = s.MediaType } : _result();

    private (Digest Digest, long Size, string MediaType)? _stored;

    /// <summary>A blob store (registry) says which compressed blob it stored the layer as.</summary>
    public void SetStoredBlob(Digest digest, long size, string mediaType) => _stored = (digest, size, mediaType);
}
