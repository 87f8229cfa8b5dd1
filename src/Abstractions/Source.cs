namespace Occystrap.Abstractions;

public enum LayerCompression
{
    None,
    Gzip,
    Zstd,
}

/// <summary>An image as a source offers it: config bytes, the documents it came from, and layers that open on demand.</summary>
public interface IImageSource : IAsyncDisposable
{
    ImageName Name { get; }

    /// <summary>The config blob exactly as stored (its digest is the image id).</summary>
    ReadOnlyMemory<byte> Config { get; }

    /// <summary>
    /// The config's digest, the image id. Only an image from <see cref="IDescribingInputPlugin.DescribeAsync"/>
    /// may hold a <see cref="Config"/> rebuilt from another description, and then gives the real digest here.
    /// </summary>
    Digest ConfigDigest => Digest.Compute(Config.Span);

    /// <summary>The image manifest exactly as stored, or null when the source has none (a docker-save archive, a daemon).</summary>
    ImageDocument? Manifest { get; }

    /// <summary>The index or manifest list the manifest was chosen from, or null when the reference named a manifest.</summary>
    ImageDocument? Index => null;

    /// <summary>The entry of <see cref="Index"/> that was chosen (its platform says why).</summary>
    Descriptor? IndexEntry => null;

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

    /// <summary>The registry repository the blob lives in, when it lives in one: a sink on the same registry can mount it from there.</summary>
    BlobLocation? Location => null;

    /// <summary>Opens the stored bytes (compressed as <see cref="Compression"/> says).</summary>
    Task<Stream> OpenAsync(CancellationToken cancellationToken);
}
