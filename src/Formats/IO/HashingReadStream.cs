using System.Security.Cryptography;
using Occystrap.Abstractions;

namespace Occystrap.Formats.IO;

/// <summary>
/// Passes bytes through while hashing them: with the expected digest's algorithm when one is given
/// (sha256 or sha512), else SHA-256. Reaching the end of the stream with other bytes than expected throws
/// <see cref="DigestMismatchException"/>, so a reader can never finish with unverified data.
/// </summary>
public sealed class HashingReadStream : ReadOnlyStream
{
    private readonly Stream _inner;
    private readonly bool _leaveOpen;
    private readonly IncrementalHash _hash;
    private readonly Digest? _expected;
    private readonly string _what;
    private Digest? _digest;

    public HashingReadStream(Stream inner, Digest? expected = null, string what = "blob", bool leaveOpen = false)
    {
        _inner = inner;
        _expected = expected;
        _what = what;
        _leaveOpen = leaveOpen;
        _hash = Digest.CreateHash(expected?.Algorithm ?? Digest.Sha256Algorithm);
    }

    public long BytesRead { get; private set; }

    /// <summary>The digest of everything read; available once the end was reached.</summary>
    public Digest Digest => _digest ?? throw new InvalidOperationException($"{_what} was not read to its end");

    public bool Completed => _digest is not null;


    public override int Read(Span<byte> buffer)
    {
        if (_digest is not null) return 0;
        int n = _inner.Read(buffer);
        Account(buffer[..n]);
        return n;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_digest is not null) return 0;
        int n = await _inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        Account(buffer.Span[..n]);
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    private void Account(ReadOnlySpan<byte> data)
    {
        if (data.Length > 0)
        {
            _hash.AppendData(data);
            BytesRead += data.Length;
            return;
        }
        var digest = Digest.FromHash(_hash);
        _digest = digest;
        if (_expected is { } e && e != digest)
            throw new DigestMismatchException(_what, e.ToString(), digest.ToString());
    }

    /// <summary>Reads whatever is left, so that the digest is final.</summary>
    public void Drain()
    {
        if (_digest is not null) return;
        CopyTo(Null);
    }


    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _hash.Dispose();
            if (!_leaveOpen) _inner.Dispose();
        }
        base.Dispose(disposing);
    }
}
