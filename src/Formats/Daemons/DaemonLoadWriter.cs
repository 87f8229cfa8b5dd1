using System.IO.Pipelines;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Occystrap.Abstractions;
using Occystrap.Formats.Archives;

namespace Occystrap.Formats.Daemons;

/// <summary>
/// Loads an image into a Docker or Podman daemon: a docker-save archive is produced straight into the
/// body of <c>POST /images/load</c>, never as a file; only a layer whose size is not known when it
/// starts (a filtered or recompressed one) is spooled to the temporary folder first. The image is
/// tagged with the whole destination name. Afterwards the daemon's record of the image is checked:
/// its layers must be the diff_ids written and its id the config's digest.
/// </summary>
public sealed class DaemonLoadWriter : IImageSink
{
    private readonly EngineClient _client;
    private readonly ImageName _name;
    private readonly ILogger _log;
    private readonly Pipe _pipe = new(new PipeOptions(pauseWriterThreshold: 4 * 1024 * 1024, resumeWriterThreshold: 2 * 1024 * 1024));
    private readonly Stream _body;
    private readonly DockerArchiveWriter _archive;
    private readonly Task<IReadOnlyList<string>> _load;
    private readonly CancellationTokenSource _abort = new();
    private bool _committed;

    public DaemonLoadWriter(EngineClient client, ImageName name, string spoolDirectory, ILogger log)
    {
        _client = client;
        _name = name;
        _log = log;
        _body = _pipe.Writer.AsStream();
        _archive = new DockerArchiveWriter(_body, name, spoolDirectory);
        _load = Task.Run(() => _client.LoadAsync(_pipe.Reader.AsStream(), _abort.Token));
    }

    public LayerDelivery Delivery => _archive.Delivery;

    public IReadOnlyCollection<LayerCompression> StoredCompressions => _archive.StoredCompressions;

    public async Task<StoredLayer> WriteLayerAsync(LayerContent layer, CancellationToken ct)
    {
        try
        {
            return await _archive.WriteLayerAsync(layer, ct).ConfigureAwait(false);
        }
        catch (IOException) when (_load.IsCompleted)
        {
            // The daemon stopped reading: its answer says why.
            await _load.ConfigureAwait(false);
            throw;
        }
    }

    public async Task<CommitResult> CommitAsync(ImageResult image, CancellationToken ct)
    {
        var result = await _archive.CommitAsync(image, ct).ConfigureAwait(false);
        await _body.FlushAsync(ct).ConfigureAwait(false);
        await _pipe.Writer.CompleteAsync().ConfigureAwait(false);
        var said = await _load.WaitAsync(ct).ConfigureAwait(false);
        _committed = true;
        foreach (string line in said) _log.LogDebug("{Socket}: {Line}", _client.Socket, line);

        var inspect = await _client.InspectImageAsync(_name.ToString(), ct).ConfigureAwait(false);
        var layers = ((inspect["RootFS"] as JsonObject)?["Layers"] as JsonArray)?.Select(l => l?.GetValue<string>()).ToList() ?? [];
        var written = image.Layers.Select(l => l.DiffId.ToString()).ToList();
        if (!layers.SequenceEqual(written))
            throw new OccystrapException($"the daemon at {_client.Socket} loaded {_name} with other layers than were written ({layers.Count} instead of {written.Count})");
        string? id = inspect["Id"]?.GetValue<string>();
        if (id != result.ConfigDigest.ToString())
            _log.LogInformation("{Image} has id {Id} in the daemon (not its config digest {Config}: a containerd image store names images by manifest)", _name.ToString(), id, result.ConfigDigest.ToString());
        _log.LogInformation("loaded {Image} into {Daemon} at {Socket}", _name.ToString(), _client.Daemon, _client.Socket);
        return result;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_committed)
        {
            // The body fails: the daemon sees a broken upload and loads nothing.
            await _pipe.Writer.CompleteAsync(new OperationCanceledException("the run failed")).ConfigureAwait(false);
            _abort.Cancel();
            try { await _load.ConfigureAwait(false); }
            catch (Exception e) when (e is OperationCanceledException or OccystrapException or IOException or HttpRequestException) { }
        }
        await _archive.DisposeAsync().ConfigureAwait(false);
        _abort.Dispose();
    }
}
