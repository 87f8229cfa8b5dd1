using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Occystrap.Abstractions;
using Occystrap.Formats.Compression;
using Occystrap.Formats.Daemons;
using Occystrap.Formats.Images;
using Occystrap.Formats.IO;
using Occystrap.RegistryServer;

namespace Occystrap.Inputs.DockerPush;

/// <summary>
/// The image the daemon is pushing to the embedded registry, read while it comes. The layers and their order
/// are the daemon's inspect answer; a layer is available once a blob that decompresses to its diff_id has
/// arrived. The config and the manifest come last: once the push has ended and the manifest agrees with
/// every layer that arrived. Owns the server, its folder and the daemon connection.
/// </summary>
internal sealed class PushedImage : IImageSource
{
    private const int MaxConfigBytes = 16 * 1024 * 1024;
    private const string Tag = "push";

    private readonly string _reference;
    private readonly Digest _id;
    private readonly IReadOnlyList<Digest> _diffIds;
    private readonly EngineClient _client;
    private readonly string _storage;
    private readonly string _password;
    private readonly ILayerCacheQuery? _query;
    private readonly DigestNotes? _notes;
    private readonly ILogger _log;
    private readonly List<ArrivingLayer> _layers;
    private readonly Dictionary<Digest, List<ArrivingLayer>> _byDiffId = [];
    private readonly ConcurrentDictionary<Digest, PushedBlob> _held = new();
    private readonly List<Task> _identifying = [];
    private readonly HashSet<string> _prefixes;
    private readonly object _gate = new();
    private readonly List<BlobReceived> _unmatched = [];
    private readonly List<string> _pushed = [];
    private readonly Dictionary<string, long> _plainSizes = new(StringComparer.Ordinal);
    private bool _namesLayers;
    // Null until the first blob lands; then whether blobs are matched with the daemon's progress (true) or decompressed (false).
    private bool? _matching;
    private readonly ConcurrentQueue<string> _unreadable = new();
    // Decompressing to find a blob's diff_id: two at a time, beside the daemon's own compression.
    private readonly SemaphoreSlim _identifyGate = new(2);
    private readonly TaskCompletionSource<ReadOnlyMemory<byte>> _config = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private EmbeddedRegistry? _server;
    private CancellationTokenSource? _stop;
    private Task? _push;
    private ReadOnlyMemory<byte> _configBytes = ReadOnlyMemory<byte>.Empty;
    private ImageDocument? _manifest;

    public PushedImage(ImageName name, string reference, Digest id, IReadOnlyList<Digest> diffIds, EngineClient client, string storage,
        string password, ILayerCacheQuery? query, DigestNotes? notes, ILogger log)
    {
        Name = name;
        _reference = reference;
        _id = id;
        _diffIds = diffIds;
        _client = client;
        _storage = storage;
        _password = password;
        _query = query;
        _notes = notes;
        _log = log;
        _layers = diffIds.Select((d, i) => new ArrivingLayer(i, d, reference)).ToList();
        _prefixes = diffIds.Select(d => d.Hex[..12]).ToHashSet(StringComparer.Ordinal);
        foreach (var layer in _layers)
        {
            if (!_byDiffId.TryGetValue(layer.DiffId, out var same)) _byDiffId[layer.DiffId] = same = [];
            same.Add(layer);
        }
    }

    public ImageName Name { get; }

    /// <summary>Empty until the push has ended (see <see cref="ReadConfigAsync"/>).</summary>
    public ReadOnlyMemory<byte> Config => _configBytes;

    /// <summary>The manifest the daemon pushed; null until the push has ended.</summary>
    public ImageDocument? Manifest => _manifest;

    public IReadOnlyList<ISourceLayer> Layers => _layers;

    public ValueTask<ReadOnlyMemory<byte>> ReadConfigAsync(CancellationToken cancellationToken) => new(_config.Task.WaitAsync(cancellationToken));

    /// <summary>The size the server answers a HEAD with, for a blob the daemon need not send.</summary>
    public long? HeldElsewhere(Digest blob) => _held.TryGetValue(blob, out var pushed) ? pushed.Size : null;

    /// <summary>Starts the server, then the push on a task of its own; returns once the server listens.</summary>
    public async Task StartAsync(RegistryServerOptions options, CancellationToken ct)
    {
        _server = await EmbeddedRegistry.StartAsync(options, ct).ConfigureAwait(false);
        _server.BlobStored += OnBlobStored;
        _stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var stop = _stop.Token;
        _push = Task.Run(() => PushAsync(stop), CancellationToken.None);
    }

    private async Task PushAsync(CancellationToken ct)
    {
        var server = _server!;
        try
        {
            if (_query is not null && _notes is not null) await DeclineCachedAsync(ct).ConfigureAwait(false);
            string repository = $"occystrap-push/{Guid.NewGuid().ToString("N")[..12]}";
            string tagged = $"{server.Address}/{repository}";
            try
            {
                // Inside the try: an interrupt may end the request after the daemon has made the name.
                await _client.TagAsync(_reference, tagged, Tag, ct).ConfigureAwait(false);
                _log.LogPush(_reference, server.Address);
                await _client.PushAsync(tagged, Tag, "occystrap", _password, server.Address, insecure: true, ct, OnProgress).ConfigureAwait(false);
            }
            finally
            {
                // Also after a failure or an interrupt: the daemon keeps no name of ours (one never made is no error).
                using var untag = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                try
                {
                    await _client.UntagAsync($"{tagged}:{Tag}", untag.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is OccystrapException or OperationCanceledException or IOException)
                {
                    _log.LogWarning("could not remove the temporary name {Name} from the daemon: {Reason}", $"{tagged}:{Tag}", e.Message);
                }
            }
            var received = server.FindManifest(repository, Tag)
                ?? throw new OccystrapException($"the daemon at {_client.Socket} finished pushing {_reference} without sending a manifest");
            // Every blob's upload ended before the push did; what is left is finding out which layer each holds.
            Task[] pending;
            lock (_identifying) pending = [.. _identifying];
            await Task.WhenAll(pending).WaitAsync(ct).ConfigureAwait(false);
            Finish(received);
        }
        catch (Exception e)
        {
            foreach (var layer in _layers) layer.Fail(e);
            _config.TrySetException(e);
        }
    }

    /// <summary>
    /// Before the push: the layers the run takes from the layer cache, unread. Each blob the daemon pushed
    /// such a layer as before is answered as present, so the daemon, which asks before it uploads, skips it.
    /// </summary>
    private async Task DeclineCachedAsync(CancellationToken ct)
    {
        var answers = await Task.WhenAll(_byDiffId.Keys.Select(async d => (DiffId: d, Stored: await _query!.IsStoredAsync(d, ct).ConfigureAwait(false)))).ConfigureAwait(false);
        var stored = answers.Where(a => a.Stored).Select(a => a.DiffId).ToHashSet();
        // Podman asks about the diff_id itself (its own store keeps layers uncompressed): the plain tar, whose
        // size the notes keep under the diff_id's own key.
        foreach (var (blob, pushed) in _notes!.Known)
            if (stored.Contains(pushed.DiffId)) _held[blob] = pushed;
        if (stored.Count > 0)
            _log.LogInformation("{Stored} of {Count} layers are in the layer cache and at the destination: the daemon is told it need not send them", stored.Count, _byDiffId.Count);
    }

    /// <summary>
    /// A blob has landed. When the daemon's progress names layers by diff_id (dockerd), the blob is matched
    /// with the layer the daemon next reports as pushed, which costs nothing; otherwise (Podman) it is
    /// decompressed to find its diff_id. The config is no layer and waits for the manifest.
    /// </summary>
    private void OnBlobStored(BlobReceived blob)
    {
        if (IsJson(blob)) return;
        lock (_gate)
        {
            // Decided once, by the first blob: matching is only sound when every blob takes part in it.
            if (_matching is null) _matching = Volatile.Read(ref _namesLayers);
            if (_matching == true)
            {
                _unmatched.Add(blob);
                MatchLocked();
                return;
            }
        }
        Identify(blob);
    }

    private void Identify(BlobReceived blob)
    {
        lock (_identifying) _identifying.Add(Task.Run(() => IdentifyAsync(blob)));
    }

    private bool IsJson(BlobReceived blob)
    {
        using var file = new FileStream(_server!.Blobs.PathOf(blob.Digest), FileMode.Open, FileAccess.Read, FileShare.Read, 1);
        return file.ReadByte() == '{';
    }

    /// <summary>
    /// dockerd reports each layer by the first 12 hex digits of its diff_id: its size as it goes
    /// (<c>Pushing</c>, the tar's size) and <c>Pushed</c> once its upload has been committed.
    /// </summary>
    private void OnProgress(JsonNode line)
    {
        if (line["id"] is not JsonValue idValue || !idValue.TryGetValue(out string? id) || !_prefixes.Contains(id)) return;
        Volatile.Write(ref _namesLayers, true);
        string? status = line["status"] is JsonValue st && st.TryGetValue(out string? text) ? text : null;
        lock (_gate)
        {
            if (status == "Pushing" && line["progressDetail"]?["total"] is JsonValue total && total.TryGetValue(out long size))
                _plainSizes[id] = size;
            else if (status == "Pushed" && _matching != false)
            {
                _pushed.Add(id);
                MatchLocked();
            }
        }
    }

    /// <summary>
    /// One blob landed and one layer reported pushed: they are the same, since the daemon reports a layer
    /// only after its upload was committed, and every earlier pair was matched the same way. When more are
    /// waiting on either side (two uploads ended together), that no longer holds: those blobs and every
    /// later one are decompressed instead. A match is checked again against the manifest before anything
    /// is committed, and a tar output hashes each layer as it reads it.
    /// </summary>
    private void MatchLocked()
    {
        if (_unmatched.Count == 1 && _pushed.Count == 1)
        {
            var blob = _unmatched[0];
            string id = _pushed[0];
            _unmatched.Clear();
            _pushed.Clear();
            long plain = _plainSizes.GetValueOrDefault(id);
            foreach (var layer in _layers.Where(l => !l.Arrived && l.DiffId.Hex.StartsWith(id, StringComparison.Ordinal)))
                Arrive(layer, blob.Digest, blob.Size, plain, "matched with the daemon's progress");
        }
        else if (_unmatched.Count > 1 || _pushed.Count > 1)
        {
            _matching = false;
            foreach (var blob in _unmatched) Identify(blob);
            _unmatched.Clear();
            _pushed.Clear();
        }
    }

    private void Arrive(ArrivingLayer layer, Digest blob, long size, long plainSize, string how)
    {
        _log.LogDebug("layer {Index}/{Count} {DiffId} arrived as {Blob} ({How})", layer.Index + 1, _layers.Count, layer.DiffId.Short, blob.Short, how);
        string path = _server!.Blobs.PathOf(blob);
        LayerCompression compression;
        using (var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 16))
            compression = LayerCompressionCodec.Detect(file);
        layer.Arrive(blob, size, plainSize, compression, path);
    }



    /// <summary>Which layer a blob holds: its diff_id is the digest of its bytes decompressed (the blob's own digest for a plain tar).</summary>
    private async Task IdentifyAsync(BlobReceived blob)
    {
        var ct = _stop!.Token;
        try
        {
            await _identifyGate.WaitAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        try
        {
            string path = _server!.Blobs.PathOf(blob.Digest);
            string what = $"blob {blob.Digest.Short} the daemon pushed";
            Digest diffId;
            long plainSize = blob.Size;
            LayerCompression compression;
            await using (var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1024 * 1024, FileOptions.SequentialScan | FileOptions.Asynchronous))
            {
                compression = LayerCompressionCodec.Detect(file);
                if (compression == LayerCompression.None) diffId = blob.Digest;
                else
                {
                    await using var plain = new HashingReadStream(LayerCompressionCodec.OpenDecompressed(file, compression, what));
                    await plain.CopyToAsync(Stream.Null, 1024 * 1024, ct).ConfigureAwait(false);
                    diffId = plain.Digest;
                    plainSize = plain.BytesRead;
                }
            }
            if (_byDiffId.TryGetValue(diffId, out var layers))
                foreach (var layer in layers)
                {
                    _log.LogDebug("layer {Index}/{Count} {DiffId} arrived as {Blob} (decompressed)", layer.Index + 1, _layers.Count, layer.DiffId.Short, blob.Digest.Short);
                    layer.Arrive(blob.Digest, blob.Size, plainSize, compression, path);
                }
            else
                _log.LogDebug("{What} is no layer of {Image} (the config, or a layer the image does not list)", what, _reference);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        catch (Exception e) when (e is OccystrapException or IOException or InvalidDataException)
        {
            // Not fatal here: the layer it held is reported as never arrived, with this reason.
            _unreadable.Enqueue($"blob {blob.Digest}: {e.Message}");
        }
        finally
        {
            _identifyGate.Release();
        }
    }

    /// <summary>Checks the manifest against what arrived, then gives out the config.</summary>
    private void Finish(ManifestReceived received)
    {
        string what = $"the image {_reference} as the daemon at {_client.Socket} pushed it";
        var manifest = ImageManifest.Parse(received.Bytes, what, received.MediaType);
        if (manifest.Layers.Count != _layers.Count)
            throw new OccystrapException($"{what}: its manifest lists {manifest.Layers.Count} layers, but the daemon's image has {_layers.Count}");
        int declined = 0;
        for (int i = 0; i < _layers.Count; i++)
        {
            var layer = _layers[i];
            var named = manifest.Layers[i];
            // A blob that landed and was not matched while the push went is the one the manifest names.
            if (!layer.Arrived && !layer.Declined && _server!.Blobs.Contains(named.Digest)) Arrive(layer, named.Digest, named.Size, 0, "named by the manifest");
            if (layer.Arrived)
            {
                if (layer.BlobDigest != named.Digest)
                    throw new OccystrapException($"{what}: its manifest names {named.Digest} as layer {i + 1}, but that layer ({layer.DiffId.Short}) arrived as {layer.BlobDigest}");
            }
            else if (_held.TryGetValue(named.Digest, out var held) && held.DiffId == layer.DiffId)
            {
                layer.Decline();
                declined++;
            }
            else
            {
                string why = _unreadable.IsEmpty ? "" : $" (unreadable: {string.Join("; ", _unreadable)})";
                throw new OccystrapException($"{what}: layer {i + 1} {layer.DiffId.Short} never arrived as a blob that decompresses to it{why}");
            }
            _notes?.Add(named.Digest, new PushedBlob(layer.DiffId, named.Size));
            if (layer.Arrived && layer.PlainSize > 0) _notes?.Add(layer.DiffId, new PushedBlob(layer.DiffId, layer.PlainSize));
        }

        string configPath = _server!.Blobs.PathOf(manifest.Config.Digest);
        if (!File.Exists(configPath)) throw new OccystrapException($"{what}: the daemon did not send the config {manifest.Config.Digest}");
        if (new FileInfo(configPath).Length > MaxConfigBytes) throw new OccystrapException($"{what}: the config is larger than {MaxConfigBytes} bytes");
        byte[] config = File.ReadAllBytes(configPath);
        if (!ImageConfig.DiffIdsOf(config, $"{what}: config").SequenceEqual(_diffIds))
            throw new OccystrapException($"{what}: the config's diff_ids are not the layers the daemon listed for the image");
        if (manifest.Config.Digest != _id)
            _log.LogDebug("the daemon's image id {Id} is not the digest of the config it pushed, {Config}", _id, manifest.Config.Digest);

        try
        {
            _notes?.Save();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or OccystrapException)
        {
            _log.LogWarning("could not save the layer cache's digest notes: {Reason}", e.Message);
        }
        _log.LogInformation("the daemon uploaded {Blobs} blobs ({Size} MiB) to the embedded registry; {Declined} of {Count} layers it skipped as already at the destination",
            _server.BlobsStored, (_server.BytesReceived / 1048576.0).ToString("0.0", CultureInfo.InvariantCulture), declined, _layers.Count);
        _manifest = new ImageDocument(new Descriptor(received.MediaType, received.Digest, received.Bytes.Length), received.Bytes);
        _configBytes = config;
        _config.TrySetResult(config);
    }

    public async ValueTask DisposeAsync()
    {
        if (_stop is not null)
        {
            await _stop.CancelAsync().ConfigureAwait(false);
            // The push task untags the image in its own finally, with a deadline of its own.
            if (_push is not null) await _push.ConfigureAwait(false);
            Task[] pending;
            lock (_identifying) pending = [.. _identifying];
            await Task.WhenAll(pending).ConfigureAwait(false);
            _stop.Dispose();
        }
        if (_server is not null) await _server.DisposeAsync().ConfigureAwait(false);
        Remove(_storage);
        _client.Dispose();
        _identifyGate.Dispose();
    }

    internal static void Remove(string storage)
    {
        try
        {
            if (Directory.Exists(storage)) Directory.Delete(storage, recursive: true);
        }
        catch (IOException)
        {
            // a temp folder left behind is not the run's error
        }
    }
}
