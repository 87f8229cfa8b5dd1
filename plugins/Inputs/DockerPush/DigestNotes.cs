using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Occystrap.Abstractions;
using Occystrap.Formats.Archives;
using Occystrap.Formats.Images;
using Occystrap.Formats.IO;

namespace Occystrap.Inputs.DockerPush;

/// <summary>What a daemon pushed a layer as: its diff_id, and the size of the blob (the plain tar's, for the entry under the diff_id itself).</summary>
internal sealed record PushedBlob(Digest DiffId, long Size);

/// <summary>
/// The <c>CACHE.digests</c> file beside the layer cache: for each blob a daemon pushed, the layer (diff_id) it
/// holds and its size. The cache is keyed by diff_id; a daemon asks about its own compressed digests, so this
/// is how a question about one is answered. Each layer also has an entry under its own diff_id, with the size
/// of its tar, for a daemon that asks about the uncompressed layer (Podman). Saved like the cache: merged with what others saved meanwhile,
/// under a lock, through a temp file renamed over the old one.
/// </summary>
internal sealed class DigestNotes
{
    private readonly string _path;
    private readonly ILogger _log;
    private readonly Dictionary<Digest, PushedBlob> _added = [];

    private DigestNotes(string path, ILogger log, Dictionary<Digest, PushedBlob> known)
    {
        _path = path;
        _log = log;
        Known = known;
    }

    public IReadOnlyDictionary<Digest, PushedBlob> Known { get; }

    public static DigestNotes Load(string path, ILogger log) => new(path, log, Read(path, log));

    public void Add(Digest blob, PushedBlob pushed)
    {
        if (!Known.TryGetValue(blob, out var had) || had != pushed) _added[blob] = pushed;
    }

    public void Save()
    {
        if (_added.Count == 0) return;
        using var fileLock = FileLock.Acquire(_path + ".lock", $"the digest notes {_path}");
        var merged = Read(_path, _log);
        foreach (var (k, v) in _added) merged[k] = v;
        var mappings = new JsonObject();
        foreach (var (blob, pushed) in merged.OrderBy(p => p.Key.ToString(), StringComparer.Ordinal))
            mappings[blob.ToString()] = new JsonObject { ["diff_id"] = pushed.DiffId.ToString(), ["size"] = pushed.Size };
        AtomicFile.WriteAllBytes(_path, JsonText.Serialize(new JsonObject { ["version"] = 1, ["mappings"] = mappings }));
        _added.Clear();
    }

    private static Dictionary<Digest, PushedBlob> Read(string path, ILogger log)
    {
        var result = new Dictionary<Digest, PushedBlob>();
        if (!File.Exists(path)) return result;
        try
        {
            if (JsonNode.Parse(File.ReadAllBytes(path)) is not JsonObject { } root || root["version"]?.GetValue<int>() != 1 || root["mappings"] is not JsonObject mappings)
            {
                log.LogWarning("{Path} has an unknown format; starting a new one", path);
                return result;
            }
            foreach (var (key, value) in mappings)
            {
                if (Digest.TryParse(key, out var blob) && value is JsonObject o
                    && Digest.TryParse(o["diff_id"]?.GetValue<string>(), out var diffId)
                    && o["size"]?.GetValue<long>() is { } size and >= 0)
                    result[blob] = new PushedBlob(diffId, size);
            }
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or FormatException or IOException)
        {
            log.LogWarning("{Path} cannot be read ({Reason}); starting a new one", path, e.Message);
        }
        return result;
    }
}
