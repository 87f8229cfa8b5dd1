namespace Occystrap.Abstractions;

/// <summary>
/// A sink whose layers the layer cache may remember (it also implements <see cref="IBlobPresence"/>, so
/// that a remembered blob is trusted only once the sink confirms it has it).
/// </summary>
public interface ILayerCacheTarget : IBlobPresence
{
    /// <summary>Where this sink stores blobs, recorded with each cached layer so that a later run can mount from there.</summary>
    BlobLocation Location { get; }

    /// <summary>The sink's part of the pipeline identity: whatever changes the blobs it makes from the same tar (its compression).</summary>
    string CacheKey { get; }
}
