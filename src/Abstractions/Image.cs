namespace Occystrap.Abstractions;

public enum LayerCompression
{
    None,
    Gzip,
    Zstd,
}

/// <summary>An image as a source offers it: config bytes and layers that open on demand.</summary>
public interface IImageSource : IAsyncDisposable
{
    ImageName Name { get; }

    /// <summary>The config blob exactly as stored (its sha256 is the image id).</summary>
    ReadOnlyMemory<byte> Config { get; }

    /// <summary>The media type of the source's manifest (Docker v2 or OCI), or null when it has none (docker save).</summary>
    string? ManifestMediaType { get; }

    IReadOnlyList<ISourceLayer> Layers { get; }
}

/// <summary>One layer of a source image. Its bytes are a stream opened on demand, never held whole in memory.</summary>
public interface ISourceLayer
{
    int Index { get; }

    /// <summary>The uncompressed digest, as the config names it.</summary>
    Digest DiffId { get; }

    /// <summary>How the stored bytes are compressed (found from media type or magic bytes).</summary>
    LayerCompression Compression { get; }

    /// <summary>The digest of the stored bytes, when the source knows it (registry blobs, OCI layouts).</summary>
    Digest? BlobDigest { get; }

    /// <summary>The size of the stored bytes, when known.</summary>
    long? StoredSize { get; }

    /// <summary>The media type the source gives the stored bytes, when it has one.</summary>
    string? MediaType { get; }

    /// <summary>Opens the stored bytes (compressed as <see cref="Compression"/> says).</summary>
    Task<Stream> OpenAsync(CancellationToken cancellationToken);
}

/// <summary>The digests of a layer as it was written.</summary>
/// <param name="DiffId">sha256 of the uncompressed tar.</param>
/// <param name="Size">Size of the uncompressed tar, when it was seen uncompressed.</param>
/// <param name="BlobDigest">sha256 of the compressed bytes, when the layer went out compressed.</param>
public sealed record LayerResult(
    int Index,
    Digest DiffId,
    long? Size,
    Digest? BlobDigest = null,
    long? BlobSize = null,
    string? BlobMediaType = null);

/// <summary>The image as it leaves the pipeline (or as it stands at one filter's place in the chain).</summary>
public sealed record ImageResult(
    ImageName Name,
    ReadOnlyMemory<byte> Config,
    IReadOnlyList<LayerResult> Layers,
    string? ManifestMediaType);
