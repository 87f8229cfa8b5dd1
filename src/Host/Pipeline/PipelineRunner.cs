using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Occystrap.Abstractions;
using Occystrap.Formats.Compression;
using Occystrap.Formats.Images;
using Occystrap.Formats.IO;
using Occystrap.Formats.Tar;

namespace Occystrap.Host.Pipeline;

/// <summary>What a run did, for the summary line.</summary>
internal sealed record PipelineSummary(int Layers, long Bytes, TimeSpan Elapsed, int Rewritten, int Copied);

/// <summary>
/// Streams one image from a source through the filters into a sink. A layer that no filter wants to
/// see is copied as stored (compressed, if the sink takes that) or decompressed once; a layer some
/// filter wants is read in one tar pass shared by all filters, rewritten only if some filter changes
/// entries. Every byte read is verified against the digest that names it.
/// </summary>
internal sealed class PipelineRunner(ILogger log, IProgressReporter progress)
{
    /// <param name="cache">The layer cache and this pipeline's hash, when <c>--layer-cache</c> is given.</param>
    public async Task<PipelineSummary> RunAsync(IImageSource source, IReadOnlyList<IImageFilter> filters, IImageSink sink, CancellationToken ct,
        (LayerCache Cache, string Hash)? cache = null)
    {
        // A cached layer is skipped unread, so the cache is only consulted when no filter must see every layer.
        bool useCache = cache is not null && sink.StoresBlobs && !filters.Any(f => f.ObservesLayers);
        var clock = Stopwatch.StartNew();
        foreach (var f in filters) await f.BeginAsync(source.Name, source.Config, ct).ConfigureAwait(false);

        var layers = source.Layers;
        var results = new LayerResult[layers.Count];
        // stageResults[p][i]: layer i as filter p receives it, for filters that observe layers.
        var stageResults = filters.Select(f => f.ObservesLayers ? new LayerResult[layers.Count] : null).ToArray();
        var passthrough = new Dictionary<(Digest, LayerCompression), Task<(LayerResult, LayerResult)>>();
        long bytes = 0;
        int rewritten = 0, copied = 0;

        async Task Layer(int i)
        {
            ct.ThrowIfCancellationRequested();
            var layer = layers[i];
            var info = new LayerInfo(source.Name, i, layers.Count, layer.DiffId);
            var (stages, taps) = BuildStages(filters, info);
            bool looked = stages.Count > taps.Count;
            bool compressed = !looked && sink.AcceptsCompressedLayers && layer.Compression != LayerCompression.None;
            var form = compressed ? layer.Compression : LayerCompression.None;

            if (useCache && cache!.Value.Cache.Find(layer.DiffId, cache.Value.Hash) is { } hit
                && await sink.HasBlobAsync(hit.CompressedDigest, hit.Location, ct).ConfigureAwait(false))
            {
                cache.Value.Cache.CountHit();
                results[i] = new LayerResult(i, hit.DiffId, null, hit.CompressedDigest, hit.CompressedSize, hit.MediaType);
                if (hit.DiffId != layer.DiffId) Interlocked.Increment(ref rewritten);
                else Interlocked.Increment(ref copied);
                log.LogDebug("layer {Index}/{Count} {DiffId}: in the layer cache and at the destination; skipped", i + 1, layers.Count, layer.DiffId.Short);
                return;
            }

            Task<(LayerResult, LayerResult)> work;
            bool first = true;
            if (looked) work = WriteLayerAsync(source, layer, stages, compressed, sink, ct);
            else
            {
                lock (passthrough)
                {
                    first = !passthrough.TryGetValue((layer.DiffId, form), out work!);
                    if (first) passthrough[(layer.DiffId, form)] = work = CopyOrReuseAsync(source, layer, compressed, sink, ct);
                }
            }
            var (written, original) = await work.ConfigureAwait(false);
            results[i] = written with { Index = i };
            if (cache is not null && sink.StoresBlobs) cache.Value.Cache.Record(layer.DiffId, cache.Value.Hash, written, sink.BlobLocation);
            if (first) Interlocked.Add(ref bytes, written.BlobSize ?? written.Size ?? 0);
            if (written.DiffId != layer.DiffId) Interlocked.Increment(ref rewritten);
            else Interlocked.Increment(ref copied);
            for (int p = 0; p < filters.Count; p++)
                if (stageResults[p] is { } stage)
                    stage[i] = taps.TryGetValue(p, out var tap) ? new LayerResult(i, tap.Digest, tap.Size) : original with { Index = i };
        }

        int parallel = Math.Max(1, sink.MaxParallelLayers);
        if (parallel == 1)
        {
            for (int i = 0; i < layers.Count; i++) await Layer(i).ConfigureAwait(false);
        }
        else
        {
            // Largest first, so that the longest transfer is not the one left running alone at the end.
            var order = Enumerable.Range(0, layers.Count).OrderByDescending(i => layers[i].StoredSize ?? 0).ToList();
            await Parallel.ForEachAsync(order, new ParallelOptions { MaxDegreeOfParallelism = parallel, CancellationToken = ct },
                async (i, _) => await Layer(i).ConfigureAwait(false)).ConfigureAwait(false);
        }

        // The config flows through the filters in order; each observer sees the diff_ids of its place.
        var config = source.Config;
        for (int p = 0; p < filters.Count; p++)
        {
            var at = stageResults[p] ?? results;
            var view = ImageConfig.WithDiffIds(config, at.Select(r => r.DiffId).ToList());
            config = await filters[p].EndAsync(new ImageResult(source.Name, view, at, source.ManifestMediaType), ct).ConfigureAwait(false);
        }
        var finalConfig = ImageConfig.WithDiffIds(config, results.Select(r => r.DiffId).ToList());
        if (rewritten > 0)
            log.LogInformation("updated the config's diff_ids ({Changed} of {Count} layers changed)", rewritten, layers.Count);

        await sink.CommitAsync(new ImageResult(source.Name, finalConfig, results, source.ManifestMediaType), ct).ConfigureAwait(false);
        return new PipelineSummary(layers.Count, bytes, clock.Elapsed, rewritten, copied);
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

    /// <summary>A layer no filter looks at: reused by the sink if it has it already, else copied.</summary>
    private async Task<(LayerResult Written, LayerResult Original)> CopyOrReuseAsync(
        IImageSource source, ISourceLayer layer, bool compressed, IImageSink sink, CancellationToken ct)
    {
        if (compressed && await sink.TryReuseLayerAsync(layer, ct).ConfigureAwait(false) is { } reused)
        {
            log.LogDebug("layer {Index}/{Count} {DiffId}: already at the destination", layer.Index + 1, source.Layers.Count, layer.DiffId.Short);
            return (reused, reused);
        }
        return await WriteLayerAsync(source, layer, [], compressed, sink, ct).ConfigureAwait(false);
    }

    /// <returns>The layer as written, and the layer as it was read (its original digest and size).</returns>
    private async Task<(LayerResult Written, LayerResult Original)> WriteLayerAsync(
        IImageSource source, ISourceLayer layer, List<LayerStage> stages, bool compressed, IImageSink sink, CancellationToken ct)
    {
        int i = layer.Index;
        string label = $"layer {i + 1}/{source.Layers.Count} {layer.DiffId.Short}";
        string what = $"{label} of {source.Name}";
        using var task = progress.Start(label, layer.StoredSize);
        Stream stored = new ProgressReadStream(await layer.OpenAsync(ct).ConfigureAwait(false), task);
        // Compressed bytes are checked against the blob digest; plain tar bytes against the diff_id below.
        HashingReadStream? storedHash = compressed || (layer.Compression != LayerCompression.None && layer.BlobDigest is not null)
            ? new HashingReadStream(stored, layer.BlobDigest, what)
            : null;
        stored = storedHash ?? stored;

        if (compressed)
        {
            await using var blob = storedHash!;
            var content = new LayerContent(i, blob, layer.Compression, layer.MediaType, layer.DiffId, layer.StoredSize,
                () => new LayerResult(i, layer.DiffId, null, blob.Digest, blob.BytesRead, layer.MediaType), layer.BlobDigest);
            await sink.WriteLayerAsync(content, ct).ConfigureAwait(false);
            blob.Drain();
            var r = content.GetResult();
            return (r, r);
        }

        var tar = new HashingReadStream(LayerCompressionCodec.OpenDecompressed(stored, layer.Compression), layer.DiffId, what);
        var pass = stages.Count > 0 ? new TarRewriteStream(tar, stages, what) : null;
        bool same = pass is null || pass.PreservesBytes;
        // Unchanged, the verified input hash is the diff_id; rewritten, the output is hashed as it streams.
        await using var output = same ? (Stream)(pass ?? (Stream)tar) : new HashingReadStream(pass!);
        var content2 = new LayerContent(i, output, LayerCompression.None, null, same ? layer.DiffId : null,
            same && layer.Compression == LayerCompression.None ? layer.StoredSize : null,
            () => same ? new LayerResult(i, tar.Digest, tar.BytesRead) : new LayerResult(i, ((HashingReadStream)output).Digest, ((HashingReadStream)output).BytesRead));
        try
        {
            await sink.WriteLayerAsync(content2, ct).ConfigureAwait(false);
            output.CopyTo(Stream.Null);
            storedHash?.Drain();
        }
        catch (Exception e) when (e is InvalidDataException or ZstdSharp.ZstdException)
        {
            throw new OccystrapException($"{what}: corrupt {layer.Compression.ToString().ToLowerInvariant()} data: {e.Message}", e);
        }
        log.LogDebug("{Layer}: written as {DiffId}", label, content2.GetResult().DiffId);
        return (content2.GetResult(), new LayerResult(i, tar.Digest, tar.BytesRead));
    }
}
