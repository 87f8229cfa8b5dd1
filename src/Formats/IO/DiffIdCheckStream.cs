using System.Buffers;
using System.IO.Pipelines;
using Occystrap.Abstractions;
using Occystrap.Formats.Compression;

namespace Occystrap.Formats.IO;

/// <summary>
/// Passes compressed layer bytes through unchanged while proving, on the side, that they decompress to
/// the layer's diff_id: a copy of every byte read goes through a pipe to a decompressor and a hash on
/// another thread. At the end of the stream the check must have passed, or the read throws (a
/// <see cref="DigestMismatchException"/> or a <see cref="CorruptDataException"/>), so no reader can
/// finish with a layer that does not match its config. For blobs no verified digest names.
/// </summary>
public sealed class DiffIdCheckStream : ReadOnlyStream
{
    private readonly Stream _inner;
    private readonly Pipe _pipe = new(new PipeOptions(pauseWriterThreshold: 8 * 1024 * 1024, resumeWriterThreshold: 4 * 1024 * 1024, useSynchronizationContext: false));
    private readonly Task _check;
    private bool _ended;

    public DiffIdCheckStream(Stream inner, LayerCompression compression, Digest diffId, string what)
    {
        _inner = inner;
        _check = Task.Run(async () =>
        {
            try
            {
                await using var plain = LayerCompressionCodec.OpenDecompressed(_pipe.Reader.AsStream(leaveOpen: true), compression, what);
                await using var hash = new HashingReadStream(plain, diffId, what);
                await hash.CopyToAsync(Null, 1024 * 1024).ConfigureAwait(false);
                await _pipe.Reader.CompleteAsync().ConfigureAwait(false);
            }
            catch (Exception e)
            {
                await _pipe.Reader.CompleteAsync(e).ConfigureAwait(false);
                throw;
            }
        });
    }

    public override int Read(Span<byte> buffer)
    {
        int n = _inner.Read(buffer);
        if (n > 0)
        {
            _pipe.Writer.Write(buffer[..n]);
            Forward(_pipe.Writer.FlushAsync().AsTask().GetAwaiter().GetResult());
        }
        else End().GetAwaiter().GetResult();
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int n = await _inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        if (n > 0)
        {
            _pipe.Writer.Write(buffer.Span[..n]);
            Forward(await _pipe.Writer.FlushAsync(cancellationToken).ConfigureAwait(false));
        }
        else await End().ConfigureAwait(false);
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>The checker stopped reading: it failed (the failure is thrown now) or the compressed data ended before the blob did.</summary>
    private void Forward(FlushResult result)
    {
        if (result.IsCompleted && _check.IsFaulted) _check.GetAwaiter().GetResult();
    }

    private async Task End()
    {
        if (_ended) return;
        _ended = true;
        await _pipe.Writer.CompleteAsync().ConfigureAwait(false);
        await _check.ConfigureAwait(false);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            if (!_ended) _pipe.Writer.Complete(new OperationCanceledException("the layer was not read to its end"));
            _inner.Dispose();
        }
        base.Dispose(disposing);
    }
}
