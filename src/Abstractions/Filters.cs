namespace Occystrap.Abstractions;

/// <summary>
/// One filter of a pipeline. Every member has a default, so a filter implements only what it needs:
/// <see cref="ForLayer"/> to see or change tar entries, <see cref="EndAsync"/> to see the result or change the config.
/// </summary>
public interface IImageFilter
{
    /// <summary>
    /// Called once before any layer is read, with the config as the source has it then: empty for a source
    /// that receives its config after its layers (<c>dockerpush://</c>). <see cref="EndAsync"/> always has it.
    /// </summary>
    ValueTask BeginAsync(ImageName name, ReadOnlyMemory<byte> config, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <summary>
    /// The entry-level work for one layer, or null to leave the layer alone. May be called concurrently
    /// for different layers; the returned object sees one layer's entries in order on one thread at a time. When every filter returns
    /// null the layer is copied as it is stored, without decompression.
    /// </summary>
    ILayerEntryFilter? ForLayer(LayerInfo layer) => null;

    /// <summary>
    /// Called once after all layers, with the image as it stands at this filter's place in the chain
    /// (digests of the layers after this filter and those before it). Returns the config to pass on.
    /// </summary>
    ValueTask<ReadOnlyMemory<byte>> EndAsync(ImageResult image, CancellationToken cancellationToken) => ValueTask.FromResult(image.Config);

    /// <summary>True when <see cref="EndAsync"/> needs the layer digests as they are at this point of the chain.</summary>
    bool ObservesLayers => false;
}

/// <summary>What a filter knows about the layer it is asked about.</summary>
public sealed record LayerInfo(ImageName Image, int Index, int Count, Digest DiffId);

public enum EntryAction
{
    Keep,
    Drop,
}

/// <summary>Sees each tar entry of one layer, in order, in a single streaming pass shared by all filters.</summary>
public interface ILayerEntryFilter
{
    /// <summary>May change the entry's header fields; returns whether it stays in the layer.</summary>
    EntryAction Process(LayerEntry entry);

    /// <summary>Called after the layer's last entry.</summary>
    void Complete() { }

    /// <summary>
    /// False for a filter that only looks (it must not change or drop entries): when every filter on a
    /// layer only looks, the layer passes on byte for byte with its digest unchanged.
    /// </summary>
    bool ChangesEntries => true;
}
