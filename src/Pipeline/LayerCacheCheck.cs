using System.Collections.Concurrent;
using Occystrap.Abstractions;

namespace Occystrap.Pipeline;

/// <summary>
/// Which input layers a run takes from the layer cache, unread: asked by the runner for each layer, and by
/// an input before it receives its layers (<see cref="PluginInvocation.LayerCache"/>). It can be made
/// before the destination is open, since the input opens first; answers wait until <see cref="Attach"/>
/// gives it the sink. Each diff_id is confirmed with the sink once per run, however often it is asked.
/// </summary>
public sealed class LayerCacheCheck : ILayerCacheQuery
{
    private readonly TaskCompletionSource<bool> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConcurrentDictionary<Digest, Lazy<Task<LayerCacheEntry?>>> _answers = new();
    private IImageSink? _sink;

    public LayerCacheCheck(LayerCache cache) => Cache = cache;

    public LayerCache Cache { get; }

    public string Path => Cache.Path;

    /// <summary>The run's pipeline hash, once attached to a sink the cache can serve; null before, or for any other sink.</summary>
    public string? Hash { get; private set; }

    /// <summary>A check attached at once, for a caller that has the sink already.</summary>
    public static LayerCacheCheck For(LayerCache cache, IReadOnlyList<PipelineFilter> pipeline, IImageSink sink)
    {
        var check = new LayerCacheCheck(cache);
        check.Attach(pipeline, sink);
        return check;
    }

    /// <summary>
    /// Gives the check the run's sink and filters. Cached layers are skipped unread, so lookups answer only
    /// when no filter must see every layer; what the run writes is recorded whenever the sink stores blobs.
    /// </summary>
    public void Attach(IReadOnlyList<PipelineFilter> pipeline, IImageSink sink)
    {
        if (sink is not ILayerCacheTarget target)
        {
            _ready.TrySetResult(false);
            return;
        }
        _sink = sink;
        Hash = LayerCache.PipelineHash(pipeline.Select(p => (p.Name, p.Options)), target.CacheKey);
        _ready.TrySetResult(!pipeline.Any(p => p.Filter.ObservesLayers));
    }

    /// <summary>The run will have no sink (it failed before one was open): every question answers false.</summary>
    public void Abandon() => _ready.TrySetResult(false);

    public async ValueTask<bool> IsStoredAsync(Digest diffId, CancellationToken cancellationToken) =>
        await FindAsync(diffId, cancellationToken).ConfigureAwait(false) is not null;

    /// <summary>The cache entry for this input layer, when the sink confirmed it still has (or has mounted) its blob.</summary>
    public async Task<LayerCacheEntry?> FindAsync(Digest diffId, CancellationToken ct)
    {
        if (!await _ready.Task.WaitAsync(ct).ConfigureAwait(false)) return null;
        if (Cache.Find(diffId, Hash!) is not { } hit) return null;
        var answer = _answers.GetOrAdd(diffId, _ => new Lazy<Task<LayerCacheEntry?>>(() => ConfirmAsync(hit, ct)));
        return await answer.Value.WaitAsync(ct).ConfigureAwait(false);
    }

    /// <summary>A cache entry is trusted only when the sink has its blob, or could mount it from where it was stored last.</summary>
    private async Task<LayerCacheEntry?> ConfirmAsync(LayerCacheEntry hit, CancellationToken ct)
    {
        var sink = _sink!;
        if (sink is IBlobPresence presence && await presence.HasBlobAsync(hit.CompressedDigest, ct).ConfigureAwait(false)) return hit;
        bool mounted = sink is IBlobMounting mounting && BlobLocation.TryParse(hit.Location) is { } from
            && await mounting.MountBlobAsync(hit.CompressedDigest, from, ct).ConfigureAwait(false);
        return mounted ? hit : null;
    }
}
