using System.Buffers;
using System.Threading.Channels;

namespace Occystrap.Formats.IO;

/// <summary>
/// Reads its inner stream on a task of its own, a few chunks ahead of the reader, so that the work behind
/// the inner stream (downloading, decompressing, hashing) runs on another core than the work of whoever reads
/// this one (hashing, writing). The end of this stream is reported only after the inner stream has returned
/// its end and is no longer touched, so the caller may use what lies under it from then on. An error of the
/// inner stream is thrown to the reader, in order, after the chunks read before it.
/// </summary>
public sealed class ReadAheadStream : ReadOnlyStream
{
    private readonly Stream _inner;
    private readonly int _chunkSize;
    private readonly Channel<(byte[] Buffer, int Length)> _chunks;
    private readonly CancellationTokenSource _stop = new();
    private Task? _producer;
    private byte[]? _current;
    private int _offset;
    private int _length;
    private bool _ended;

    /// <param name="chunks">How many chunks of <paramref name="chunkSize"/> bytes may wait, read but not taken.</param>
    public ReadAheadStream(Stream inner, int chunkSize = 1024 * 1024, int chunks = 4)
    {
        _inner = inner;
        _chunkSize = chunkSize;
        _chunks = Channel.CreateBounded<(byte[], int)>(new BoundedChannelOptions(chunks) { SingleReader = true, SingleWriter = true });
    }

    private void Start() => _producer ??= Task.Run(ProduceAsync);

    private async Task ProduceAsync()
    {
        try
        {
            while (true)
            {
                var buffer = ArrayPool<byte>.Shared.Rent(_chunkSize);
                int n;
                try
                {
                    n = await _inner.ReadAtLeastAsync(buffer.AsMemory(0, _chunkSize), _chunkSize, throwOnEndOfStream: false, _stop.Token).ConfigureAwait(false);
                }
                catch
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    throw;
                }
                if (n == 0)
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    break;
                }
                await _chunks.Writer.WriteAsync((buffer, n), _stop.Token).ConfigureAwait(false);
            }
            _chunks.Writer.TryComplete();
        }
        catch (Exception e)
        {
            _chunks.Writer.TryComplete(e);
        }
    }

    public override int Read(Span<byte> buffer)
    {
        if (buffer.Length == 0) return 0;
        if (!EnsureChunk(sync: true).AsTask().GetAwaiter().GetResult()) return 0;
        return Take(buffer);
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.Length == 0) return 0;
        if (!await EnsureChunk(sync: false, cancellationToken).ConfigureAwait(false)) return 0;
        return Take(buffer.Span);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    private int Take(Span<byte> buffer)
    {
        int n = Math.Min(buffer.Length, _length - _offset);
        _current.AsSpan(_offset, n).CopyTo(buffer);
        _offset += n;
        return n;
    }

    private async ValueTask<bool> EnsureChunk(bool sync, CancellationToken ct = default)
    {
        if (_current is not null && _offset < _length) return true;
        if (_current is not null)
        {
            ArrayPool<byte>.Shared.Return(_current);
            _current = null;
        }
        if (_ended) return false;
        Start();
        try
        {
            if (await _chunks.Reader.WaitToReadAsync(ct).ConfigureAwait(false) && _chunks.Reader.TryRead(out var chunk))
            {
                (_current, _offset, _length) = (chunk.Buffer, 0, chunk.Length);
                return true;
            }
        }
        catch (ChannelClosedException e) when (e.InnerException is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e.InnerException);
        }
        // Completed: the producer has returned, and the inner stream is the caller's again.
        await _producer!.ConfigureAwait(false);
        _ended = true;
        return false;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) StopAsync().AsTask().GetAwaiter().GetResult();
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Stops the producer, waits for it, gives the buffers back and disposes the inner stream.</summary>
    private async ValueTask StopAsync()
    {
        if (_stop.IsCancellationRequested) return;
        _stop.Cancel();
        if (_producer is not null)
        {
            try
            {
                await _producer.ConfigureAwait(false);
            }
            catch (Exception)
            {
                // the producer reports its failures through the channel
            }
        }
        while (_chunks.Reader.TryRead(out var chunk)) ArrayPool<byte>.Shared.Return(chunk.Buffer);
        if (_current is not null) ArrayPool<byte>.Shared.Return(_current);
        _current = null;
        _stop.Dispose();
        await _inner.DisposeAsync().ConfigureAwait(false);
    }
}
