using Occystrap.Abstractions;

namespace Occystrap.Formats.Images;

/// <summary>
/// Builds the manifest a sink writes, in one place for every sink: the source's own bytes when they
/// already describe what is written (same format, config and layer blobs), so that a plain copy keeps
/// its manifest digest; otherwise the source manifest with the new config and layers (its other members
/// kept), or a new manifest when the source had none.
/// </summary>
public static class ManifestBuilder
{
    /// <summary>
    /// The format to write: the source manifest's (Docker when there is none), except that layers with no
    /// Docker form (zstd) need OCI. <paramref name="forced"/> (a sink's explicit choice) wins.
    /// </summary>
    public static ManifestFormat FormatFor(ImageDocument? source, IEnumerable<Descriptor> layers, ManifestFormat? forced = null)
    {
        if (forced is { } f) return f;
        var format = source is not null && source.Descriptor.MediaType == MediaTypes.OciManifest ? ManifestFormat.Oci : ManifestFormat.Docker;
        if (format == ManifestFormat.Docker && layers.Any(l => !MediaTypeTable.HasFormOf(l.MediaType, ManifestFormat.Docker) || MediaTypeTable.LayerCompressionOf(l.MediaType) == LayerCompression.Zstd))
            format = ManifestFormat.Oci;
        return format;
    }

    /// <param name="layers">The stored layer blobs in image order; their media types are put into <paramref name="format"/>.</param>
    public static ImageDocument Build(ImageDocument? source, ManifestFormat format, ReadOnlyMemory<byte> config, IReadOnlyList<Descriptor> layers)
    {
        var configDescriptor = new Descriptor(MediaTypeTable.ConfigType(format), Digest.Compute(config.Span), config.Length);
        var converted = layers.Select(l => l with { MediaType = MediaTypeTable.InFormat(l.MediaType, format) }).ToList();
        string manifestType = MediaTypeTable.ManifestType(format);

        ImageManifest? original = null;
        if (source is not null && MediaTypeTable.IsManifest(source.Descriptor.MediaType))
        {
            original = ImageManifest.Parse(source.Bytes.Span, "the source manifest", source.Descriptor.MediaType);
            bool same = original.MediaType == manifestType
                && original.Config.Digest == configDescriptor.Digest
                && original.Layers.Count == converted.Count
                && original.Layers.Zip(converted).All(p => p.First.Digest == p.Second.Digest && p.First.Size == p.Second.Size
                    && MediaTypeTable.InFormat(p.First.MediaType, format) == p.Second.MediaType);
            if (same) return source;
        }
        var manifest = original is not null
            ? original.With(format, original.Config.Digest == configDescriptor.Digest ? original.Config with { MediaType = configDescriptor.MediaType } : configDescriptor,
                converted.Select((l, i) => i < original.Layers.Count && original.Layers[i].Digest == l.Digest ? l with { Annotations = original.Layers[i].Annotations, Urls = original.Layers[i].Urls } : l).ToList())
            : ImageManifest.Create(format, configDescriptor, converted);
        byte[] bytes = manifest.ToBytes();
        return new ImageDocument(new Descriptor(manifestType, Digest.Compute(bytes), bytes.Length), bytes);
    }
}
