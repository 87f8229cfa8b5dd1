using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Occystrap.Abstractions;
using Occystrap.Formats.Compression;
using Occystrap.Formats.Images;
using Occystrap.Formats.IO;
using Occystrap.Formats.Tar;

namespace Occystrap.Pipeline;

/// <summary>
/// Streams one image from a source through the filters into a sink. A layer that no filter wants to
/// see is copied as stored when the sink stores its compression, else decompressed once; a layer some
/// filter wants is read in one tar pass shared by all filters, rewritten only if some filter changes
/// entries. Every byte read is verified against the digest that names it. Layers go to the sink as its
/// <see cref="IImageSink.Delivery"/> asks: distinct ones in parallel, or every one in image order.
/// </summary>
public sealed class PipelineRunner(ILogger log, IProgressReporter progress)
{
    public Task<PipelineSummary> RunAsync(IImageSource source, IReadOnlyList<IImageFilter> filters, IImageSink sink, CancellationToken ct) =>
        RunAsync(source, filters.Select(PipelineFilter.Of).ToList(), sink, RunOptions.Default, ct);

    public async Task<PipelineSummary> RunAsync(IImageSource source, IReadOnlyList<PipelineFilter> pipeline, IImageSink sink, RunOptions options, CancellationToken ct)
    {
        var filters = pipeline.Select(p => p.Filter).ToList();
        var check = options.CacheCheck ?? (options.Cache is { } c ? LayerCacheCheck.For(c, pipeline, sink) : null);
        var cache = check?.Hash is not null ? check.Cache : null;
        string? cacheHash = check?.Hash;
        bool inOrder = sink.Delivery == LayerDelivery.EveryLayerInOrder;
        var stored = sink.StoredCompressions;

        var clock = Stopwatch.StartNew();
        foreach (var f in filters) await f.BeginAsync(source.Name, source.Config, ct).ConfigureAwait(false);

        var layers = source.Layers;
        var results = new LayerResult[layers.Count];
        // stageResults[p][i]: layer i as filter p receives it, for filters that observe layers.
        var stageResults = filters.Select(f => f.ObservesLayers ? new LayerResult[layers.Count] : null).ToArray();
        var passthrough = new Dictionary<(Digest, LayerCompression), Task<(LayerResult, LayerResult)>>();
        int parallel = inOrder ? 1 : Math.Max(1, sink.ParallelLayers ?? options.Parallel);
        var slots = parallel > 1 ? new LayerSlots(parallel) : null;
        long bytes = 0;
        int rewritten = 0, copied = 0, fromCache = 0;

        async Task Layer(int i)
        {
            ct.ThrowIfCancellationRequested();
            var layer = layers[i];
            if (cache is not null && await check!.FindAsync(layer.DiffId, ct).ConfigureAwait(false) is { } hit)
            {
                cache.CountHit();
                Interlocked.Increment(ref fromCache);
                results[i] = new LayerResult(i, hit.DiffId, null, new Descriptor(hit.MediaType, hit.CompressedDigest, hit.CompressedSize));
                if (hit.DiffId != layer.DiffId) Interlocked.Increment(ref rewritten);
                else Interlocked.Increment(ref copied);
                log.LogDebug("layer {Index}/{Count} {DiffId}: in the layer cache and at the destination; skipped", i + 1, layers.Count, layer.DiffId.Short);
                return;
            }

            // A source still receiving its layers says what this one is only once it is there.
            await layer.WhenAvailableAsync(ct).ConfigureAwait(false);
            var info = new LayerInfo(source.Name, i, layers.Count, layer.DiffId);
            var (stages, taps) = BuildStages(filters, info);
            bool looked = stages.Count > taps.Count;
            bool compressed = !looked && layer.Compression != LayerCompression.None && stored.Contains(layer.Compression);
            var form = compressed ? layer.Compression : LayerCompression.None;

            Task<(LayerResult, LayerResult)> work;
            bool first = true;
            if (looked || inOrder) work = WriteLayerAsync(source, layer, i, stages, compressed, sink, slots, ct);
            else
            {
                lock (passthrough)
                {
                    first = !passthrough.TryGetValue((layer.DiffId, form), out work!);
                    if (first) passthrough[(layer.DiffId, form)] = work = CopyOrReuseAsync(source, layer, i, compressed, sink, slots, ct);
                }
            }
            var (written, original) = await work.ConfigureAwait(false);
            results[i] = written with { Index = i };
            if (cache is not null) cache.Record(layer.DiffId, cacheHash!, written, ((ILayerCacheTarget)sink).Location);
            if (first) Interlocked.Add(ref bytes, written.Blob?.Size ?? written.Size ?? 0);
            if (written.DiffId != layer.DiffId) Interlocked.Increment(ref rewritten);
            else Interlocked.Increment(ref copied);
            for (int p = 0; p < filters.Count; p++)
                if (stageResults[p] is { } stage)
                    stage[i] = taps.TryGetValue(p, out var tap) ? new LayerResult(i, tap.Digest, tap.Size) : original with { Index = i };
        }

        if (parallel == 1)
        {
            for (int i = 0; i < layers.Count; i++) await Layer(i).ConfigureAwait(false);
        }
        else
        {
            // Largest first, so that the longest transfer is not the one left running alone at the end. The slots
            // bound the layers being read; as many again may be finishing (their destination committing them).
            var order = Enumerable.Range(0, layers.Count).OrderByDescending(i => layers[i].StoredSize ?? 0).ToList();
            await Parallel.ForEachAsync(order, new ParallelOptions { MaxDegreeOfParallelism = 2 * parallel, CancellationToken = ct },
                async (i, _) => await Layer(i).ConfigureAwait(false)).ConfigureAwait(false);
        }

        // The config flows through the filters in order; each observer sees the diff_ids of its place. A
        // source receiving its image may have it only now, after the layers.
        var config = await source.ReadConfigAsync(ct).ConfigureAwait(false);
        for (int p = 0; p < filters.Count; p++)
        {
            var at = stageResults[p] ?? results;
            var view = ImageConfig.WithDiffIds(config, at.Select(r => r.DiffId).ToList());
            config = await filters[p].EndAsync(new ImageResult(source.Name, view, at, source.Manifest), ct).ConfigureAwait(false);
        }
        var finalConfig = ImageConfig.WithDiffIds(config, results.Select(r => r.DiffId).ToList());
        if (rewritten > 0)
            log.LogInformation("updated the config's diff_ids ({Changed} of {Count} layers changed)", rewritten, layers.Count);

        var commit = await sink.CommitAsync(new ImageResult(source.Name, finalConfig, results, source.Manifest), ct).ConfigureAwait(false);
        return new PipelineSummary(layers.Count, bytes, clock.Elapsed, rewritten, copied, fromCache, commit) { Written = results };
    }

    /// <summary>
    /// The layer's chain: each filter's entry work, and a tap before each observer that stands after a
    /// filter that changes entries (before that, the layer is still the original).
    /// </summary>
    private static (List<LayerStage> Stages, Dictionary<int, LayerStage.Tap> Taps) BuildStages(IReadOnlyList<IImageFilter> filters, LayerInfo info)
    {
        var stages = new List<LayerStage>();
        var taps = new Dictionary<int, LayerStage.Tap>();
        bool changed = false;
        for (int p = 0; p < filters.Count; p++)
        {
            if (filters[p].ObservesLayers && changed)
            {
                var tap = new LayerStage.Tap(p);
                taps[p] = tap;
                stages.Add(tap);
            }
            if (filters[p].ForLayer(info) is { } entryFilter)
            {
                stages.Add(LayerStage.Of(entryFilter));
                changed |= entryFilter.ChangesEntries;
            }
        }
        if (!changed)
        {
            stages.RemoveAll(s => s is LayerStage.Tap);
            taps.Clear();
        }
        return (stages, taps);
    }

    /// <summary>A layer no filter looks at: not read at all when the sink has its blob already or can mount it, else copied.</summary>
    private async Task<(LayerResult Written, LayerResult Original)> CopyOrReuseAsync(
        IImageSource source, ISourceLayer layer, int i, bool compressed, IImageSink sink, LayerSlots? slots, CancellationToken ct)
    {
        if (compressed && layer.BlobDigest is { } blob && layer.StoredSize is { } size)
        {
            bool present = sink is IBlobPresence presence && await presence.HasBlobAsync(blob, ct).ConfigureAwait(false);
            if (!present && layer.Location is { } from && sink is IBlobMounting mounting)
                present = await mounting.MountBlobAsync(blob, from, ct).ConfigureAwait(false);
            if (present)
            {
                log.LogDebug("layer {Index}/{Count} {DiffId}: already at the destination", i + 1, source.Layers.Count, layer.DiffId.Short);
                var reused = new LayerResult(i, layer.DiffId, null,
                    new Descriptor(layer.MediaType ?? MediaTypeTable.LayerType(layer.Compression, ManifestFormat.Oci), blob, size));
                return (reused, reused);
            }
        }
        return await WriteLayerAsync(source, layer, i, [], compressed, sink, slots, ct).ConfigureAwait(false);
    }

    /// <returns>The layer as written, and the layer as it was read (its original digest and size).</returns>
    private async Task<(LayerResult Written, LayerResult Original)> WriteLayerAsync(
        IImageSource source, ISourceLayer layer, int i, List<LayerStage> stages, bool compressed, IImageSink sink, LayerSlots? slots, CancellationToken ct)
    {
        using var slot = slots is null ? null : await slots.TakeAsync(ct).ConfigureAwait(false);
        string label = $"layer {i + 1}/{source.Layers.Count} {layer.DiffId.Short}";
        string what = $"{label} of {source.Name}";
        using var task = progress.Start(label, layer.StoredSize);
        try
        {
            return await WriteLayerAsync(source, layer, i, stages, compressed, sink, task, slot, label, what, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            task.Fail("interrupted");
            throw;
        }
        catch (Exception e)
        {
            task.Fail("failed");
            // A failure names the layer as the progress showed it, and the image; most already do. A bug
            // (any other exception) stays what it is, to be reported as an internal error.
            bool expected = e is OccystrapException or IOException or InvalidDataException or HttpRequestException or OperationCanceledException or UnauthorizedAccessException;
            if (!expected || e is UsageException || e.Message.Contains(label, StringComparison.Ordinal)) throw;
            throw new OccystrapException($"{what}: {Describe(e)}", e);
        }
    }

    private static string Describe(Exception e) => e switch
    {
        InvalidDataException => $"corrupt compressed data: {e.Message}",
        OperationCanceledException => "timed out",
        _ => e.Message,
    };

    private async Task<(LayerResult Written, LayerResult Original)> WriteLayerAsync(
        IImageSource source, ISourceLayer layer, int i, List<LayerStage> stages, bool compressed, IImageSink sink,
        IProgressTask task, LayerSlots.Slot? slot, string label, string what, CancellationToken ct)
    {
        Stream stored = new ProgressReadStream(await layer.OpenAsync(ct).ConfigureAwait(false), task, slot is null ? null : slot.Release);
        // A blob never grows past the size its descriptor declares: a source that keeps sending is stopped.
        if (layer.StoredSize is { } declared) stored = new DeclaredSizeStream(stored, declared, what);
        // A blob passed on compressed that no verified digest names (a docker-save layer) must still be
        // proven to decompress to its diff_id: it is decompressed and hashed on the side as it goes by.
        if (compressed && layer.BlobDigest is null) stored = new DiffIdCheckStream(stored, layer.Compression, layer.DiffId, what);
        // Compressed bytes are checked against the blob digest; plain tar bytes against the diff_id below.
        HashingReadStream? storedHash = compressed || (layer.Compression != LayerCompression.None && layer.BlobDigest is not null)
            ? new HashingReadStream(stored, layer.BlobDigest, what)
            : null;
        stored = storedHash ?? stored;

        if (compressed)
        {
            await using var blob = storedHash!;
            var content = new LayerContent(i, blob, layer.Compression, () => (layer.DiffId, null))
            {
                MediaType = layer.MediaType,
                KnownDiffId = layer.DiffId,
                KnownBlobDigest = layer.BlobDigest,
                KnownLength = layer.StoredSize,
            };
            var kept = await sink.WriteLayerAsync(content, ct).ConfigureAwait(false);
            blob.Drain();
            var r = new LayerResult(i, layer.DiffId, null, kept.Blob);
            return (r, r);
        }

        // Three stages, each a few chunks ahead of the next on a task of its own: fetching and verifying the
        // stored bytes, decompressing them, and (here) hashing and writing the tar.
        var fetched = layer.Compression != LayerCompression.None ? new ReadAheadStream(stored) : null;
        var tar = new HashingReadStream(new ReadAheadStream(LayerCompressionCodec.OpenDecompressed(fetched ?? stored, layer.Compression, what)), layer.DiffId, what);
        var pass = stages.Count > 0 ? new TarRewriteStream(tar, stages, what) : null;
        bool same = pass is null || pass.PreservesBytes;
        // Unchanged, the verified input hash is the diff_id; rewritten, the output is hashed as it streams.
        var rewrittenHash = same ? null : new HashingReadStream(pass!);
        await using var output = rewrittenHash ?? (Stream)(pass ?? (Stream)tar);
        var plain = new LayerContent(i, output, LayerCompression.None,
            () => rewrittenHash is null ? (tar.Digest, tar.BytesRead) : (rewrittenHash.Digest, rewrittenHash.BytesRead))
        {
            KnownDiffId = same ? layer.DiffId : null,
            KnownLength = same && layer.Compression == LayerCompression.None ? layer.StoredSize : null,
        };
        var keptPlain = await sink.WriteLayerAsync(plain, ct).ConfigureAwait(false);
        output.CopyTo(Stream.Null);
        // What follows the compressed data is still read, and verified, by the fetching task.
        fetched?.CopyTo(Stream.Null);
        storedHash?.Drain();
        log.LogDebug("{Layer}: written as {DiffId}", label, plain.DiffId);
        return (new LayerResult(i, plain.DiffId, plain.Size, keptPlain.Blob), new LayerResult(i, tar.Digest, tar.BytesRead));
    }
}
