using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Occystrap.Abstractions;
using Occystrap.Formats.Images;
using Occystrap.Formats.IO;
using Occystrap.Formats.Tar;

namespace Occystrap.Formats.Daemons;

/// <summary>
/// An image read from a Docker or Podman daemon. <c>GET /images/{name}/json</c> gives its id (the
/// config's digest) and diff_ids; <c>GET /images/{name}/get</c> (docker save) is then read once, front
/// to back. The save stream orders its members its own way (by name): a layer asked for when it
/// arrives streams straight through; one that arrives before it is asked for is spooled to the
/// temporary folder and served from there. Layers are known by name where the layout names them by
/// diff_id (Podman's <c>HEX.tar</c>, Docker 25+'s <c>blobs/sha256/HEX</c>), by their place in the
/// parent chain of the legacy layout's <c>ID/json</c> files, and else by hashing them as they are spooled.
/// </summary>
public sealed class DaemonImage : IImageSource
{
    private readonly EngineClient _client;
    private readonly Stream _save;
    private readonly TarArchiveReader _reader;
    private readonly string _spoolDir;
    private readonly ILogger _log;
    private readonly List<Digest> _diffIds;
    private readonly Digest _configDigest;
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly Dictionary<Digest, string> _spooled = [];
    private readonly Dictionary<string, string?> _parents = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _positions = new(StringComparer.Ordinal);
    private byte[]? _config;
    private bool _ended;

    private DaemonImage(EngineClient client, ImageName name, Digest config, List<Digest> diffIds, Stream save, string spoolDir, ILogger log)
    {
        _client = client;
        Name = name;
        _configDigest = config;
        _diffIds = diffIds;
        _save = save;
        _reader = new TarArchiveReader(save, leaveOpen: true) { Description = $"the save stream of {name}" };
        _spoolDir = spoolDir;
        _log = log;
        Layers = diffIds.Select((d, i) => (ISourceLayer)new DaemonLayer(i, d, OpenLayerAsync)).ToList();
    }

    public ImageName Name { get; }
    public ReadOnlyMemory<byte> Config => _config;
    public ImageDocument? Manifest => null;
    public IReadOnlyList<ISourceLayer> Layers { get; }

    /// <summary>How many layers came before their turn and were spooled (for tests and the log).</summary>
    public int Spooled { get; private set; }

    /// <summary>Inspects the image and reads the save stream up to its config, spooling the layers that come first.</summary>
    public static async Task<DaemonImage> OpenAsync(EngineClient client, string reference, string spoolDir, ILogger log, CancellationToken ct)
    {
        var inspect = await client.InspectImageAsync(reference, ct).ConfigureAwait(false);
        var (id, diffIds) = IdAndLayers(inspect, $"{client.Socket}: image {reference}");
        var save = await client.SaveAsync(reference, ct).ConfigureAwait(false);
        var image = new DaemonImage(client, ImageName.Parse(reference), id, diffIds, save, spoolDir, log);
        try
        {
            await image.Advance(wanted: null, ct).ConfigureAwait(false);
            return image;
        }
        catch
        {
            await image.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The image id and the diff_ids from the daemon's inspect answer.</summary>
    public static (Digest Id, List<Digest> DiffIds) IdAndLayers(JsonObject inspect, string what)
    {
        if (!Digest.TryParse(JsonText.String(inspect, "Id", what) ?? "", out var id)) throw new OccystrapException($"{what} has no usable Id");
        var layers = (inspect["RootFS"] as JsonObject)?["Layers"] as JsonArray ?? throw new OccystrapException($"{what} lists no RootFS layers");
        var diffIds = layers.Select(l => l is JsonValue v && v.TryGetValue(out string? s) && Digest.TryParse(s, out var d)
            ? d : throw new OccystrapException($"{what} has a RootFS layer that is not a digest")).ToList();
        return (id, diffIds);
    }

    /// <summary>
    /// Reads the save stream until the config (<paramref name="wanted"/> null) or the layer wanted arrives;
    /// returns that layer's content as a lease on the stream, or null when it is (now) spooled.
    /// </summary>
    private async Task<Stream?> Advance(Digest? wanted, CancellationToken ct)
    {
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            if (wanted is { } w && _spooled.ContainsKey(w)) return null;
            if (wanted is null && _config is not null) return null;
            if (_ended || _reader.Next() is not { } record)
            {
                _ended = true;
                throw new OccystrapException(wanted is null
                    ? $"the save stream of {Name} ended without its config {_configDigest.Short}"
                    : $"the save stream of {Name} ended without layer {wanted.Value.Short}");
            }
            string path = ArchivesName(record.Entry.Path);
            if (record.Entry.Kind != EntryKind.File) continue;
            if (IsConfig(path))
            {
                var buffer = new byte[record.Entry.Size];
                record.Data.ReadExactly(buffer);
                _configDigest.Verify(buffer, $"the config of {Name} from {_client.Socket}");
                _config = buffer;
                continue;
            }
            if (path.EndsWith("/json", StringComparison.Ordinal) && path.Count(c => c == '/') == 1)
            {
                LearnParent(path[..path.IndexOf('/')], record);
                continue;
            }
            if (!IsLayer(path, out var known)) continue;
            if (known is { } d && d == wanted && _diffIds.Count(x => x == d) == 1 && !_spooled.ContainsKey(d))
                return record.Data;
            await SpoolAsync(record, known, ct).ConfigureAwait(false);
        }
    }

    private static string ArchivesName(string path) => path.StartsWith("./", StringComparison.Ordinal) ? path[2..] : path;

    private bool IsConfig(string path) =>
        path == $"{_configDigest.Hex}.json" || path == $"blobs/{_configDigest.Algorithm}/{_configDigest.Hex}";

    /// <summary>A layer member, with its diff_id when the name or the parent chain tells it.</summary>
    private bool IsLayer(string path, out Digest? diffId)
    {
        diffId = null;
        string? hex = path.StartsWith("blobs/sha256/", StringComparison.Ordinal) ? path["blobs/sha256/".Length..]
            : path.EndsWith(".tar", StringComparison.Ordinal) && !path.Contains('/') ? path[..^4]
            : null;
        if (hex is not null)
        {
            var match = _diffIds.FirstOrDefault(d => d.Hex == hex);
            if (match.Hex is null) return false;
            diffId = match;
            return true;
        }
        if (!path.EndsWith("/layer.tar", StringComparison.Ordinal) || path.Count(c => c == '/') != 1) return false;
        if (_positions.TryGetValue(path[..path.IndexOf('/')], out int position) && position < _diffIds.Count) diffId = _diffIds[position];
        return true;
    }

    /// <summary>The legacy layout's <c>ID/json</c>: its parent gives the layer's place in the image.</summary>
    private void LearnParent(string id, TarRecord record)
    {
        if (record.Entry.Size > 16 * 1024 * 1024) return;
        var buffer = new byte[record.Entry.Size];
        record.Data.ReadExactly(buffer);
        try
        {
            _parents[id] = JsonNode.Parse(buffer)?["parent"] is JsonValue p && p.TryGetValue(out string? parent) && parent.Length > 0 ? parent : null;
        }
        catch (System.Text.Json.JsonException)
        {
            return;
        }
        bool changed = true;
        while (changed)
        {
            changed = false;
            foreach (var (child, parent) in _parents)
            {
                if (_positions.ContainsKey(child)) continue;
                int? place = parent is null ? 0 : _positions.TryGetValue(parent, out int p) ? p + 1 : null;
                if (place is { } at)
                {
                    _positions[child] = at;
                    changed = true;
                }
            }
        }
    }

    private async Task SpoolAsync(TarRecord record, Digest? known, CancellationToken ct)
    {
        string file = Path.Combine(_spoolDir, $".occystrap-daemon-{Guid.NewGuid():N}.tar");
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using (var output = new FileStream(file, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1024 * 1024, FileOptions.Asynchronous))
        {
            var buffer = new byte[1024 * 1024];
            int n;
            while ((n = record.Data.Read(buffer)) > 0)
            {
                if (known is null) hash.AppendData(buffer, 0, n);
                await output.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
            }
        }
        var diffId = known ?? Digest.FromHash(hash);
        if (!_diffIds.Contains(diffId) || _spooled.ContainsKey(diffId))
        {
            File.Delete(file);
            return;
        }
        _spooled[diffId] = file;
        Spooled++;
        _log.LogDebug("spooled layer {Layer} of {Image}: it came before its turn", diffId.Short, Name.ToString());
    }

    private async Task<Stream> OpenLayerAsync(Digest diffId, CancellationToken ct)
    {
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var lease = await Advance(diffId, ct).ConfigureAwait(false);
            if (lease is not null) return new Lease(lease, _lock);
            var file = new FileStream(_spooled[diffId], FileMode.Open, FileAccess.Read, FileShare.Read, 1024 * 1024);
            _lock.Release();
            return file;
        }
        catch
        {
            _lock.Release();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        _reader.Dispose();
        await _save.DisposeAsync().ConfigureAwait(false);
        foreach (string file in _spooled.Values)
            try { File.Delete(file); }
            catch (IOException) { }
        _lock.Dispose();
    }

    /// <summary>A layer read straight from the save stream: the stream is the reader's until this is disposed.</summary>
    private sealed class Lease(Stream inner, SemaphoreSlim owner) : ReadOnlyStream
    {
        private SemaphoreSlim? _owner = owner;

        public override int Read(Span<byte> buffer) => inner.Read(buffer);

        protected override void Dispose(bool disposing)
        {
            if (disposing) Interlocked.Exchange(ref _owner, null)?.Release();
            base.Dispose(disposing);
        }
    }

    /// <summary>A layer as a daemon gives it: a plain tar, opened by <paramref name="open"/>.</summary>
    internal sealed class DaemonLayer(int index, Digest diffId, Func<Digest, CancellationToken, Task<Stream>> open) : ISourceLayer
    {
        public int Index => index;
        public Digest DiffId => diffId;
        public LayerCompression Compression => LayerCompression.None;

        /// <summary>A plain tar's digest is its diff_id: it is verified as it streams.</summary>
        public Digest? BlobDigest => diffId;

        public long? StoredSize => null;
        public string? MediaType => null;
        public Task<Stream> OpenAsync(CancellationToken cancellationToken) => open(diffId, cancellationToken);
    }
}
