using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Occystrap.Abstractions;
using Occystrap.Formats.Archives;
using Occystrap.Formats.Compression;
using Occystrap.Formats.Images;
using Occystrap.Formats.IO;

namespace Occystrap.Pipeline;

/// <summary>One cached layer: what an input layer became at a registry under one pipeline.</summary>
public sealed record LayerCacheEntry(Digest CompressedDigest, long CompressedSize, string MediaType, Digest DiffId, string FiltersHash, DateTimeOffset Timestamp, string? Location);

/// <summary>
/// The <c>--layer-cache</c> file: for an input layer (diff_id) and a pipeline (filters and compression),
/// the blob it was pushed as and the diff_id it has after the filters. A hit is trusted only after the
/// registry confirms it still has the blob. Saved atomically (temp file and rename) under a lock file,
/// merging with what other processes saved meanwhile, so processes sharing the file lose nothing.
/// </summary>
public sealed class LayerCache
{
    // Raised whenever the bytes of a rewritten or compressed layer change: 2 since gzip is compressed in blocks,
    // 3 since each block is a gzip member of its own. The deflate libraries' own fingerprint goes in beside it.
    private const string LayerRewriteVersion = "occystrap-dotnet-4";
    private readonly string _path;
    private readonly ILogger _log;
    private readonly Dictionary<string, LayerCacheEntry> _entries = new(StringComparer.Ordinal);
    private readonly Dictionary<string, LayerCacheEntry> _added = new(StringComparer.Ordinal);
    private readonly object _gate = new();

    private LayerCache(string path, ILogger log)
    {
        _path = System.IO.Path.GetFullPath(path);
        _log = log;
    }

    public int Hits { get; private set; }

    /// <summary>The cache file's full path.</summary>
    public string Path => _path;

    public static LayerCache Open(string path, ILogger log)
    {
        if (Directory.Exists(path)) throw new UsageException($"--layer-cache {path} is a folder; give the path of a JSON file");
        string? folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (folder is not null && !Directory.Exists(folder)) throw new UsageException($"--layer-cache {path}: the folder {folder} does not exist");
        var cache = new LayerCache(path, log);
        foreach (var (key, entry) in cache.Read()) cache._entries[key] = entry;
        return cache;
    }

    /// <summary>
    /// The pipeline's identity: the filters in order (name, then options by name, as bound), the sink's
    /// own part (<see cref="ILayerCacheTarget.CacheKey"/>: its compression), <c>SOURCE_DATE_EPOCH</c> (a
    /// default filters may take), and a version that changes whenever rewriting changes bytes.
    /// </summary>
    public static string PipelineHash(IEnumerable<(string Name, OptionValues Options)> filters, string sinkKey)
    {
        var text = new StringBuilder(LayerRewriteVersion)
            .Append("\ngzip=").Append(ParallelGzipStream.OutputFingerprint)
            .Append("\nsink=").Append(sinkKey)
            .Append("\nSOURCE_DATE_EPOCH=").Append(Environment.GetEnvironmentVariable("SOURCE_DATE_EPOCH")?.Trim() ?? "");
        foreach (var (name, options) in filters)
        {
            text.Append("\nfilter=").Append(name);
            foreach (var (key, value) in options.All.OrderBy(o => o.Key, StringComparer.Ordinal))
                text.Append(' ').Append(key).Append('=').Append(value is IReadOnlyList<string> list ? string.Join(",", list) : Convert.ToString(value, CultureInfo.InvariantCulture));
        }
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    private static string Key(Digest inputDiffId, string filtersHash) => $"{inputDiffId}/{filtersHash}";

    public LayerCacheEntry? Find(Digest inputDiffId, string filtersHash)
    {
        lock (_gate) return _entries.TryGetValue(Key(inputDiffId, filtersHash), out var e) ? e : null;
    }

    public void CountHit()
    {
        lock (_gate) Hits++;
    }

    public void Record(Digest inputDiffId, string filtersHash, LayerResult written, BlobLocation? location)
    {
        if (written.Blob is not { } blob) return;
        var entry = new LayerCacheEntry(blob.Digest, blob.Size, blob.MediaType, written.DiffId, filtersHash, DateTimeOffset.UtcNow, location?.ToString());
        lock (_gate)
        {
            _entries[Key(inputDiffId, filtersHash)] = entry;
            _added[Key(inputDiffId, filtersHash)] = entry;
        }
    }

    /// <summary>Merges this run's entries into the file as it is now, under the lock, then renames a temp file over it.</summary>
    public void Save()
    {
        lock (_gate)
        {
            if (_added.Count == 0) return;
            string? dir = System.IO.Path.GetDirectoryName(_path);
            if (dir is not null) Directory.CreateDirectory(dir);
            using var fileLock = FileLock.Acquire(_path + ".lock", $"the layer cache {_path}");
            var merged = Read();
            foreach (var (k, v) in _added) merged[k] = v;
            var layers = new JsonObject();
            foreach (var (k, v) in merged.OrderBy(p => p.Key, StringComparer.Ordinal))
                layers[k] = new JsonObject
                {
                    ["compressed_digest"] = v.CompressedDigest.ToString(),
                    ["compressed_size"] = v.CompressedSize,
                    ["media_type"] = v.MediaType,
                    ["diff_id"] = v.DiffId.ToString(),
                    ["filters_hash"] = v.FiltersHash,
                    ["timestamp"] = v.Timestamp.ToString("o", CultureInfo.InvariantCulture),
                    ["location"] = v.Location,
                };
            var root = new JsonObject { ["version"] = 1, ["layers"] = layers };
            AtomicFile.WriteAllBytes(_path, JsonText.Serialize(root));
            _added.Clear();
        }
    }

    private Dictionary<string, LayerCacheEntry> Read()
    {
        var result = new Dictionary<string, LayerCacheEntry>(StringComparer.Ordinal);
        if (!File.Exists(_path)) return result;
        try
        {
            var root = JsonNode.Parse(File.ReadAllBytes(_path)) as JsonObject;
            if (root?["version"]?.GetValue<int>() != 1 || root["layers"] is not JsonObject layers)
            {
                _log.LogWarning("layer cache {Path} has an unknown format; starting a new one", _path);
                return result;
            }
            foreach (var (key, value) in layers)
            {
                if (value is not JsonObject o) continue;
                if (!Digest.TryParse(o["compressed_digest"]?.GetValue<string>(), out var blob)
                    || !Digest.TryParse(o["diff_id"]?.GetValue<string>(), out var diffId)
                    || o["media_type"]?.GetValue<string>() is not { } mediaType
                    || o["filters_hash"]?.GetValue<string>() is not { } hash)
                    continue; // Entries without the output diff_id (older formats) cannot keep the config right: ignored.
                var stamp = DateTimeOffset.TryParse(o["timestamp"]?.GetValue<string>(), CultureInfo.InvariantCulture, DateTimeStyles.None, out var t) ? t : DateTimeOffset.UnixEpoch;
                result[key] = new LayerCacheEntry(blob, o["compressed_size"]?.GetValue<long>() ?? 0, mediaType, diffId, hash, stamp, o["location"]?.GetValue<string>());
            }
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            _log.LogWarning("layer cache {Path} is not valid JSON ({Reason}); starting a new one", _path, e.Message);
        }
        return result;
    }
}
