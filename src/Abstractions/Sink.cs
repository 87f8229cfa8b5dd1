namespace Occystrap.Abstractions;

/// <summary>How a sink wants its layers.</summary>
public enum LayerDelivery
{
    /// <summary>Each distinct layer once, in any order, several at a time (a registry, a layout).</summary>
    DistinctInParallel,

    /// <summary>Every layer of the image, repeats included, in image order, one at a time (an archive, an extracted folder).</summary>
    EveryLayerInOrder,
}

/// <summary>
/// Where one image is written. The runner calls <see cref="WriteLayerAsync"/> for layers as
/// <see cref="Delivery"/> asks, then <see cref="CommitAsync"/> with the final config. Disposing without a
/// commit must remove anything partial. Abilities only some sinks have are separate interfaces:
/// <see cref="IBlobPresence"/>, <see cref="IBlobMounting"/>, <see cref="ILayerCacheTarget"/>.
/// </summary>
public interface IImageSink : IAsyncDisposable
{
    LayerDelivery Delivery { get; }

    /// <summary>
    /// The compressions this sink stores a layer in as it comes. A layer stored in one of them and
    /// touched by no filter is handed over compressed, untouched; any other layer is handed over as a
    /// plain tar, which the sink compresses as it stores it. Empty for a sink of plain tars.
    /// </summary>
    IReadOnlyCollection<LayerCompression> StoredCompressions { get; }

    /// <summary>
    /// How many layers are read at once, for a <see cref="LayerDelivery.DistinctInParallel"/> sink with its own setting;
    /// null takes <c>-j</c>. A layer whose stream was read to its end lets the next one start while its
    /// <see cref="WriteLayerAsync"/> finishes, so up to twice as many calls may be in progress.
    /// </summary>
    int? ParallelLayers => null;

    /// <summary>
    /// Consumes <see cref="LayerContent.Stream"/> to its end and says what it stored. Called concurrently
    /// for different layers when <see cref="Delivery"/> allows it.
    /// </summary>
    Task<StoredLayer> WriteLayerAsync(LayerContent layer, CancellationToken cancellationToken);

    /// <summary>Writes the config and whatever names the layers (manifest), then makes the output visible.</summary>
    Task<CommitResult> CommitAsync(ImageResult image, CancellationToken cancellationToken);
}

/// <summary>What a sink stored for one layer.</summary>
/// <param name="Blob">The blob it stored, for sinks that store blobs; null for a sink that only keeps the tar (an archive).</param>
public sealed record StoredLayer(Descriptor? Blob)
{
    public static StoredLayer Tar { get; } = new((Descriptor?)null);
}

/// <summary>One layer handed to a sink.</summary>
public sealed class LayerContent
{
    private readonly Func<(Digest DiffId, long? Size)> _digests;

    /// <param name="digests">The diff_id and uncompressed size, valid once the stream was read to its end.</param>
    public LayerContent(int index, Stream stream, LayerCompression compression, Func<(Digest DiffId, long? Size)> digests)
    {
        Index = index;
        Stream = stream;
        Compression = compression;
        _digests = digests;
    }

    /// <summary>Position of the layer in the image.</summary>
    public int Index { get; }

    /// <summary>The bytes to store. Verified against their digest as they are read: a mismatch throws from Read.</summary>
    public Stream Stream { get; }

    /// <summary>How <see cref="Stream"/> is compressed: <see cref="LayerCompression.None"/> for a plain tar, else the source's blob as stored.</summary>
    public LayerCompression Compression { get; }

    /// <summary>The media type of the stored form, when the stream is the source's compressed blob.</summary>
    public string? MediaType { get; init; }

    /// <summary>The diff_id when known before reading (no filter changed the layer).</summary>
    public Digest? KnownDiffId { get; init; }

    /// <summary>The digest of the stream's bytes when known before reading (a compressed blob copied as stored).</summary>
    public Digest? KnownBlobDigest { get; init; }

    /// <summary>The stream's length when known before reading.</summary>
    public long? KnownLength { get; init; }

    /// <summary>The diff_id of what was read; valid once <see cref="Stream"/> was read to its end.</summary>
    public Digest DiffId => _digests().DiffId;

    /// <summary>The uncompressed size, when the layer was seen uncompressed; valid once read to the end.</summary>
    public long? Size => _digests().Size;
}
