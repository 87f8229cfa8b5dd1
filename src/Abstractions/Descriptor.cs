namespace Occystrap.Abstractions;

/// <summary>
/// An OCI content descriptor: what a manifest or index says about one blob. Sizes and digests are
/// checked by whoever reads the blob; a descriptor itself is only a claim.
/// </summary>
public sealed record Descriptor(string MediaType, Digest Digest, long Size)
{
    public IReadOnlyDictionary<string, string>? Annotations { get; init; }

    /// <summary>For index entries: the platform the manifest is for.</summary>
    public Platform? Platform { get; init; }

    public IReadOnlyList<string>? Urls { get; init; }

    public string? ArtifactType { get; init; }

    /// <summary>The <c>org.opencontainers.image.ref.name</c> annotation, when there is one.</summary>
    public string? RefName => Annotations is not null && Annotations.TryGetValue(AnnotationKeys.RefName, out var v) ? v : null;

    /// <summary>Descriptors of the same blob with the same media type (annotations aside).</summary>
    public bool SameBlob(Descriptor other) => Digest == other.Digest && Size == other.Size && MediaType == other.MediaType;
}

/// <summary>Annotation keys the tool reads or writes.</summary>
public static class AnnotationKeys
{
    public const string RefName = "org.opencontainers.image.ref.name";
    public const string ContainerdImageName = "io.containerd.image.name";
}
