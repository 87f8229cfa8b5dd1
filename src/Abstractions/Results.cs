namespace Occystrap.Abstractions;

/// <summary>The digests of a layer as it was written.</summary>
/// <param name="DiffId">Digest of the uncompressed tar.</param>
/// <param name="Size">Size of the uncompressed tar, when it was seen uncompressed.</param>
/// <param name="Blob">The blob the sink stored the layer as, when it stores blobs (a registry, a layout).</param>
public sealed record LayerResult(int Index, Digest DiffId, long? Size, Descriptor? Blob = null);

/// <summary>The image as it leaves the pipeline (or as it stands at one filter's place in the chain).</summary>
/// <param name="Layers">In image order; a layer may appear more than once.</param>
/// <param name="SourceManifest">The source's manifest as stored, so that a sink can pass it on unchanged when nothing changed.</param>
public sealed record ImageResult(
    ImageName Name,
    ReadOnlyMemory<byte> Config,
    IReadOnlyList<LayerResult> Layers,
    ImageDocument? SourceManifest);

/// <summary>What a sink wrote for an image.</summary>
/// <param name="Manifest">The manifest it stored, or null for outputs without one (a docker-save archive).</param>
/// <param name="ConfigDigest">The digest of the config it stored: the image id.</param>
public sealed record CommitResult(Descriptor? Manifest, Digest ConfigDigest);
