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

    /// <summary>Consumes <see cref="LayerContent.Stream"/> to its end.</summary>
    Task WriteLayerAsync(LayerContent layer, CancellationToken cancellationToken);

    /// <summary>Writes the config and whatever names the layers (manifest), then makes the output visible.</summary>
    /// <param name="image">Layers in image order; a layer may appear more than once.</param>
    Task CommitAsync(ImageResult image, CancellationToken cancellationToken);
}

/// <summary>One layer handed to a sink.</summary>
public sealed class LayerContent
{
    private readonly Func<LayerResult> _result;

    public LayerContent(int index, Stream stream, LayerCompression compression, string? mediaType, Digest? knownDiffId, long? knownLength, Func<LayerResult> result)
    {
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

    /// <summary>The stream's length when known before reading.</summary>
    public long? KnownLength { get; }

    /// <summary>The digests of what was read; valid once <see cref="Stream"/> has been read to its end.</summary>
    public LayerResult GetResult() => _result();
}
