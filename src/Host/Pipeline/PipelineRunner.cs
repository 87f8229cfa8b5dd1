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
/// filter wants is rewritten in one tar pass shared by all filters. Every byte read is verified
/// against the digest that names it.
/// </summary>
internal sealed class PipelineRunner(ILogger log, IProgressReporter progress)
{
    public async Task<PipelineSummary> RunAsync(IImageSource source, IReadOnlyList<IImageFilter> filters, IImageSink sink, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var config = source.Config;
        foreach (var f in filters) await f.BeginAsync(source.Name, config, ct).ConfigureAwait(false);

        var layers = source.Layers;
        var results = new LayerResult[layers.Count];
        var passthroughDone = new Dictionary<(Digest, LayerCompression), LayerResult>();
        long bytes = 0;
        int rewritten = 0, copied = 0;
        for (int i = 0; i < layers.Count; i++)
        {
            var layer = layers[i];
            var info = new LayerInfo(source.Name, i, layers.Count, layer.DiffId);
            var entryFilters = filters.Select(f => f.ForLayer(info)).OfType<ILayerEntryFilter>().ToList();
            bool compressed = entryFilters.Count == 0 && sink.AcceptsCompressedLayers && layer.Compression != LayerCompression.None;
            var form = compressed ? layer.Compression : LayerCompression.None;

            if (entryFilters.Count == 0 && passthroughDone.TryGetValue((layer.DiffId, form), out var earlier))
            {
                results[i] = earlier with { Index = i };
                continue;
            }

            string label = $"layer {i + 1}/{layers.Count} {layer.DiffId.Short}";
            using var task = progress.Start(label, layer.StoredSize);
            Stream stored = new ProgressReadStream(await layer.OpenAsync(ct).ConfigureAwait(false), task);
            // Compressed bytes are checked against the blob digest; plain tar bytes against the diff_id below.
            HashingReadStream? storedHash = compressed || (layer.Compression != LayerCompression.None && layer.BlobDigest is not null)
                ? new HashingReadStream(stored, layer.BlobDigest, $"{label} of {source.Name}")
                : null;
            stored = storedHash ?? stored;
            LayerResult result;
            if (compressed)
            {
                var content = new LayerContent(i, storedHash!, layer.Compression, layer.MediaType, layer.DiffId, layer.StoredSize,
                    () => new LayerResult(i, layer.DiffId, null, storedHash!.Digest, storedHash.BytesRead, layer.MediaType));
                await sink.WriteLayerAsync(content, ct).ConfigureAwait(false);
                result = content.GetResult();
                copied++;
            }
            else
            {
                var tar = new HashingReadStream(LayerCompressionCodec.OpenDecompressed(stored, layer.Compression), layer.DiffId, $"{label} of {source.Name}");
                TarRewriteStream? rewrite = entryFilters.Count > 0 ? new TarRewriteStream(tar, entryFilters, $"{label} of {source.Name}") : null;
                // Unchanged, the verified input hash is the diff_id; rewritten, the output is hashed as it streams.
                await using var hashed = rewrite is null ? tar : new HashingReadStream(rewrite);
                var content = new LayerContent(i, hashed, LayerCompression.None, null, rewrite is null ? layer.DiffId : null,
                    rewrite is null && layer.Compression == LayerCompression.None ? layer.StoredSize : null,
                    () => new LayerResult(i, hashed.Digest, hashed.BytesRead));
                await sink.WriteLayerAsync(content, ct).ConfigureAwait(false);
                hashed.Drain();
                storedHash?.Drain();
                result = content.GetResult();
                if (rewrite is not null)
                {
                    rewritten++;
                    if (rewrite.Dropped > 0) log.LogInformation("{Layer}: dropped {Count} entries", label, rewrite.Dropped);
                }
                else copied++;
            }
            bytes += result.BlobSize ?? result.Size ?? 0;
            results[i] = result;
            if (entryFilters.Count == 0) passthroughDone[(layer.DiffId, form)] = result;
            log.LogDebug("{Layer}: written as {DiffId}", label, result.DiffId);
        }

        config = ImageConfig.WithDiffIds(config, results.Select(r => r.DiffId).ToList());
        if (!config.Equals(source.Config))
            log.LogInformation("updated the config's diff_ids ({Changed} of {Count} layers changed)",
                results.Where((r, i) => r.DiffId != layers[i].DiffId).Count(), layers.Count);
        foreach (var f in filters)
            config = await f.EndAsync(new ImageResult(source.Name, config, results, source.ManifestMediaType), ct).ConfigureAwait(false);

        // A filter may have changed the config: it must still name the layers that are written.
        var finalIds = ImageConfig.DiffIds(config, "the filtered image config");
        if (!finalIds.SequenceEqual(results.Select(r => r.DiffId)))
            throw new OccystrapException("a filter changed the config's rootfs.diff_ids so that they no longer match the layers");

        await sink.CommitAsync(new ImageResult(source.Name, config, results, source.ManifestMediaType), ct).ConfigureAwait(false);
        return new PipelineSummary(layers.Count, bytes, clock.Elapsed, rewritten, copied);
    }
}
