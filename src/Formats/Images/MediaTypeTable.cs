using Occystrap.Abstractions;

namespace Occystrap.Formats.Images;

/// <summary>Docker v2 schema 2 or OCI: the two manifest formats the tool reads and writes.</summary>
public enum ManifestFormat
{
    Docker,
    Oci,
}

/// <summary>
/// The one table of media types: what kind of document or layer each is, its compression, and its
/// equivalent in the other format. Every other part of the tool asks here.
/// </summary>
public static class MediaTypeTable
{
    private enum Kind { Manifest, Index, Config, Layer }

    private sealed record Row(string Docker, string? Oci, Kind Kind, LayerCompression Compression);

    private static readonly Row[] Rows =
    [
        new(MediaTypes.DockerManifest, MediaTypes.OciManifest, Kind.Manifest, LayerCompression.None),
        new(MediaTypes.DockerManifestList, MediaTypes.OciIndex, Kind.Index, LayerCompression.None),
        new(MediaTypes.DockerConfig, MediaTypes.OciConfig, Kind.Config, LayerCompression.None),
        new(MediaTypes.DockerLayer, MediaTypes.OciLayer, Kind.Layer, LayerCompression.None),
        new(MediaTypes.DockerLayerGzip, MediaTypes.OciLayerGzip, Kind.Layer, LayerCompression.Gzip),
        new(MediaTypes.DockerForeignLayerGzip, "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", Kind.Layer, LayerCompression.Gzip),
        // Docker has no zstd layer type of its own: zstd layers are OCI-only, and force an OCI manifest.
        new("", MediaTypes.OciLayerZstd, Kind.Layer, LayerCompression.Zstd),
        new("", "application/vnd.oci.image.layer.nondistributable.v1.tar", Kind.Layer, LayerCompression.None),
        new("", "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", Kind.Layer, LayerCompression.Zstd),
    ];

    private static Row? Find(string? mediaType) =>
        string.IsNullOrEmpty(mediaType) ? null : Rows.FirstOrDefault(r => r.Docker == mediaType || r.Oci == mediaType);

    public static bool IsIndex(string? mediaType) => Find(mediaType)?.Kind == Kind.Index;

    public static bool IsManifest(string? mediaType) => Find(mediaType)?.Kind == Kind.Manifest;

    public static bool IsOci(string? mediaType) => mediaType?.StartsWith("application/vnd.oci.", StringComparison.Ordinal) == true;

    public static bool IsDocker(string? mediaType) => mediaType?.StartsWith("application/vnd.docker.", StringComparison.Ordinal) == true;

    /// <summary>
    /// The compression of a layer media type: from the table, else from its suffix (<c>+gzip</c>,
    /// <c>.gzip</c>, <c>+zstd</c>, <c>.tar</c>). Null for a type that is not a layer the tool can read.
    /// </summary>
    public static LayerCompression? LayerCompressionOf(string? mediaType)
    {
        if (Find(mediaType) is { Kind: Kind.Layer } row) return row.Compression;
        if (string.IsNullOrEmpty(mediaType)) return null;
        if (mediaType.EndsWith("+gzip", StringComparison.Ordinal) || mediaType.EndsWith(".gzip", StringComparison.Ordinal)) return LayerCompression.Gzip;
        if (mediaType.EndsWith("+zstd", StringComparison.Ordinal) || mediaType.EndsWith(".zstd", StringComparison.Ordinal)) return LayerCompression.Zstd;
        if (mediaType.EndsWith(".tar", StringComparison.Ordinal) || mediaType.EndsWith("+tar", StringComparison.Ordinal)) return LayerCompression.None;
        return null;
    }

    /// <summary>The same thing in <paramref name="format"/>; a type with no equivalent (zstd in Docker) or unknown to the table stays as it is.</summary>
    public static string InFormat(string mediaType, ManifestFormat format)
    {
        if (Find(mediaType) is not { } row) return mediaType;
        string? wanted = format == ManifestFormat.Oci ? row.Oci : row.Docker;
        return string.IsNullOrEmpty(wanted) ? mediaType : wanted;
    }

    /// <summary>True when <paramref name="mediaType"/> has a form in <paramref name="format"/> (every OCI layer type but zstd has a Docker one).</summary>
    public static bool HasFormOf(string mediaType, ManifestFormat format) =>
        Find(mediaType) is not { } row || !string.IsNullOrEmpty(format == ManifestFormat.Oci ? row.Oci : row.Docker);

    /// <summary>The layer type for a blob compressed as <paramref name="compression"/> in <paramref name="format"/>.</summary>
    public static string LayerType(LayerCompression compression, ManifestFormat format) => (compression, format) switch
    {
        (LayerCompression.Zstd, _) => MediaTypes.OciLayerZstd,
        (LayerCompression.Gzip, ManifestFormat.Oci) => MediaTypes.OciLayerGzip,
        (LayerCompression.Gzip, _) => MediaTypes.DockerLayerGzip,
        (_, ManifestFormat.Oci) => MediaTypes.OciLayer,
        _ => MediaTypes.DockerLayer,
    };

    public static string ManifestType(ManifestFormat format) => format == ManifestFormat.Oci ? MediaTypes.OciManifest : MediaTypes.DockerManifest;

    public static string ConfigType(ManifestFormat format) => format == ManifestFormat.Oci ? MediaTypes.OciConfig : MediaTypes.DockerConfig;
}
