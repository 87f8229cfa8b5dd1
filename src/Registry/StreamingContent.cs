using System.Net;
using Occystrap.Abstractions;
using Occystrap.Formats.IO;

namespace Occystrap.Registry;

/// <summary>
/// An upload body produced by a writer as it is sent, hashed on the way; or only counted, when the writer's own
/// source fails at its end unless its bytes hash to <paramref name="verifiedBy"/> (a layer stream of the pipeline).
/// </summary>
internal sealed class StreamingContent(Func<Stream, CancellationToken, Task> write, long? length, Digest? verifiedBy = null) : HttpContent
{
    private HashingWriteStream? _hash;
    private CountingStream? _count;

    public Digest Digest => verifiedBy ?? _hash?.Complete() ?? throw new InvalidOperationException("the body was not sent");

    public long Length => _hash?.BytesWritten ?? _count?.Count ?? 0;

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        if (_hash is not null || _count is not null) throw new InvalidOperationException("a streamed upload body cannot be sent twice");
        Stream body = verifiedBy is null ? _hash = new HashingWriteStream(stream) : _count = new CountingStream(stream);
        await write(body, cancellationToken).ConfigureAwait(false);
        await body.FlushAsync(cancellationToken).ConfigureAwait(false);
        if (length is { } l && Length != l)
            throw new IOException($"the upload body was {Length} bytes, not the {l} announced");
    }

    protected override bool TryComputeLength(out long result)
    {
        result = length ?? 0;
        return length is not null;
    }

    private sealed class CountingStream(Stream inner) : Stream
    {
        public long Count { get; private set; }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            inner.Write(buffer);
            Count += buffer.Length;
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
            Count += buffer.Length;
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush() => inner.Flush();
        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => Count;
        public override long Position { get => Count; set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
