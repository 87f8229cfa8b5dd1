namespace Occystrap.Formats.IO;

/// <summary>
/// Buffers writes and hands them on in chunks of one fixed size. GZipStream's output depends on how
/// its input is cut into writes; feeding it fixed chunks makes compressed layers reproducible.
/// </summary>
public sealed class FixedChunkWriteStream : Stream
{
    public const int DefaultChunkSize = 1 << 20;
    private readonly Stream _inner;
    private readonly bool _leaveOpen;
    private readonly byte[] _buffer;
    private int _filled;

    public FixedChunkWriteStream(Stream inner, int chunkSize = DefaultChunkSize, bool leaveOpen = false)
    {
        _inner = inner;
        _leaveOpen = leaveOpen;
        _buffer = new byte[chunkSize];
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> data)
    {
        while (data.Length > 0)
        {
            int n = Math.Min(data.Length, _buffer.Length - _filled);
            data[..n].CopyTo(_buffer.AsSpan(_filled));
            _filled += n;
            data = data[n..];
            if (_filled == _buffer.Length)
            {
                _inner.Write(_buffer, 0, _filled);
                _filled = 0;
            }
        }
    }

    public override void WriteByte(byte value) => Write([value]);

    /// <summary>Only the final, partial chunk is written on dispose; a flush does not cut a chunk short.</summary>
    public override void Flush() { }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            if (_filled > 0) _inner.Write(_buffer, 0, _filled);
            _filled = 0;
            if (!_leaveOpen) _inner.Dispose();
        }
        base.Dispose(disposing);
    }

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
}
