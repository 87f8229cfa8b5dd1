using Occystrap.Abstractions;
using Occystrap.Formats.Images;

namespace Occystrap.Inputs.DockerPush;

/// <summary>
/// One layer of an image the daemon is pushing: known by its diff_id from the start, available once a blob
/// that decompresses to that diff_id has arrived, or declined when the daemon was told the destination has it.
/// </summary>
internal sealed class ArrivingLayer(int index, Digest diffId, string image) : ISourceLayer
{
    private readonly TaskCompletionSource _arrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private string? _path;
    private bool _declined;

    public int Index => index;
    public Digest DiffId => diffId;

    // The daemons push gzip; what actually came is set on arrival.
    public LayerCompression Compression { get; private set; } = LayerCompression.Gzip;
    public Digest? BlobDigest { get; private set; }
    public long? StoredSize { get; private set; }
    public string? MediaType { get; private set; }

    /// <summary>The size of the layer's tar, once it has arrived.</summary>
    public long PlainSize { get; private set; }

    public bool Arrived => _path is not null;

    public bool Declined => _declined;

    public ValueTask WhenAvailableAsync(CancellationToken cancellationToken) => new(_arrived.Task.WaitAsync(cancellationToken));

    /// <summary>Its blob is stored at <paramref name="path"/>, verified against <paramref name="blob"/> and shown to decompress to the diff_id.</summary>
    public void Arrive(Digest blob, long size, long plainSize, LayerCompression compression, string path)
    {
        if (_arrived.Task.IsCompleted) return;
        PlainSize = plainSize;
        BlobDigest = blob;
        StoredSize = size;
        Compression = compression;
        MediaType = MediaTypeTable.LayerType(compression, ManifestFormat.Docker);
        _path = path;
        _arrived.TrySetResult();
    }

    /// <summary>The daemon skipped it, told the destination has it: the run takes it from the layer cache.</summary>
    public void Decline()
    {
        _declined = true;
        _arrived.TrySetResult();
    }

    public void Fail(Exception e) => _arrived.TrySetException(e);

    public Task<Stream> OpenAsync(CancellationToken cancellationToken)
    {
        if (_path is null)
            throw new OccystrapException(_declined
                ? $"layer {index + 1} {diffId.Short} of {image}: the daemon did not send it, since the layer cache said the destination has it; run again without --layer-cache"
                : $"layer {index + 1} {diffId.Short} of {image} has not arrived");
        return Task.FromResult<Stream>(new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.Read, 1024 * 1024, FileOptions.SequentialScan | FileOptions.Asynchronous));
    }
}
