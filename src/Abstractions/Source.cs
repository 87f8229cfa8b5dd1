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

    /// <summary>
    /// The config, once the source has it. A source that learns its config only after its layers (an image
    /// still being pushed to it, as <c>dockerpush://</c>) completes this then, and its <see cref="Config"/> is
    /// empty until then; the runner reads the config through this after the layers.
    /// </summary>
    ValueTask<ReadOnlyMemory<byte>> ReadConfigAsync(CancellationToken cancellationToken) => ValueTask.FromResult(Config);
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

    /// <summary>
    /// Completes when the layer's bytes are there to open. A source still receiving its layers (an image
    /// being pushed to it) completes it as each arrives, and only then are <see cref="Compression"/>,
    /// <see cref="BlobDigest"/>, <see cref="StoredSize"/> and <see cref="MediaType"/> final. It may also
    /// complete for a layer that will never arrive because the run does not need it (see
    /// <see cref="PluginInvocation.LayerCache"/>); opening that layer then fails. Already complete for
    /// every other source.
    /// </summary>
    ValueTask WhenAvailableAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <summary>Opens the stored bytes (compressed as <see cref="Compression"/> says).</summary>
    Task<Stream> OpenAsync(CancellationToken cancellationToken);
}
