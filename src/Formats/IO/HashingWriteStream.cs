using System.Security.Cryptography;
using Occystrap.Abstractions;

namespace Occystrap.Formats.IO;

/// <summary>Hashes (SHA-256 unless told another algorithm) and counts what is written, then forwards it, if there is an inner stream.</summary>
public sealed class HashingWriteStream : Stream
{
    private readonly Stream? _inner;
    private readonly bool _leaveOpen;
    private readonly IncrementalHash _hash;
    private Digest? _digest;

    public HashingWriteStream(Stream? inner, bool leaveOpen = true, string algorithm = Digest.Sha256Algorithm)
    {
        _inner = inner;
        _leaveOpen = leaveOpen;
        _hash = Digest.CreateHash(algorithm);
    }

    public long BytesWritten { get; private set; }

    /// <summary>Finishes the hash; no more writes after this.</summary>
    public Digest Complete() => _digest ??= Digest.FromHash(_hash);

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        if (_digest is not null) throw new InvalidOperationException("write after the digest was taken");
        _hash.AppendData(buffer);
        BytesWritten += buffer.Length;
        _inner?.Write(buffer);
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_digest is not null) throw new InvalidOperationException("write after the digest was taken");
        _hash.AppendData(buffer.Span);
        BytesWritten += buffer.Length;
        if (_inner is not null) await _inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void WriteByte(byte value) => Write([value]);

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => BytesWritten;
    public override long Position { get => BytesWritten; set => throw new NotSupportedException(); }
    public override void Flush() => _inner?.Flush();
    public override Task FlushAsync(CancellationToken cancellationToken) => _inner?.FlushAsync(cancellationToken) ?? Task.CompletedTask;
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _hash.Dispose();
            if (!_leaveOpen) _inner?.Dispose();
        }
        base.Dispose(disposing);
    }
}
